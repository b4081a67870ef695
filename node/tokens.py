"""Peer tokens: the secrets partner nodes present to this node's TAXII API.

Only a hash of each token is stored. Tokens are 256-bit random, so a fast hash is
enough and keeps authentication cheap per request; the lookup compares in constant time.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from .config import NAME_RE
from .errors import InputError
from .store import Store
from .timefmt import now_us

PREFIX = "qk_"


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create(store: Store, peer: str) -> str:
    """A new token for `peer`; the secret is returned once and never stored."""
    if not NAME_RE.match(peer):
        raise InputError(f"NAME: {peer!r} is not a peer name (a-z, 0-9, _ or -)")
    secret = PREFIX + secrets.token_urlsafe(32)
    with store.transaction() as db:
        db["tokens"].insert({"id": secrets.token_hex(8), "peer": peer, "hash": token_hash(secret),
                             "created": now_us()})
    return secret


def peer_for_token(store: Store, secret: str, claimed_peer: str | None = None) -> str | None:
    """The peer a secret belongs to, or None. Every candidate is compared, so the time
    taken does not tell which one matched."""
    digest = token_hash(secret)
    found = None
    rows = store.query("SELECT peer, hash FROM tokens" + (" WHERE peer = ?" if claimed_peer else ""),
                       [claimed_peer] if claimed_peer else [])
    for row in rows:
        if hmac.compare_digest(row["hash"], digest):
            found = row["peer"]
    return found
