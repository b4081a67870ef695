"""Peer tokens: the secrets partner nodes present to this node's TAXII API.

Only a hash of each token is stored. Tokens are 256-bit random, so a fast hash is
enough and keeps authentication cheap per request; the lookup compares in constant time.
Tokens are looked up in the database on every request, so a revoked one is refused on
its next use, also by a running server. Creating and revoking are audited.
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


def create(store: Store, peer: str, keep_old: bool = False, by: str = "cli") -> str:
    """A new token for `peer`; the secret is returned once and never stored. The peer's
    older tokens are revoked unless `keep_old` (one secret per partner, so handing out a
    new one retires the old)."""
    if not NAME_RE.match(peer):
        raise InputError(f"NAME: {peer!r} is not a peer name (a-z, 0-9, _ or -)")
    secret = PREFIX + secrets.token_urlsafe(32)
    token_id = secrets.token_hex(8)
    with store.transaction() as db:
        if not keep_old:
            _revoke_rows(store, "peer = ?", [peer], by)
        db["tokens"].insert({"id": token_id, "peer": peer, "hash": token_hash(secret), "created": now_us()})
        store.audit("token-created", None, None, by, f"token {token_id} for peer {peer}")
    return secret


def list_tokens(store: Store) -> list[dict]:
    """Every token: peer, id and when it was made; never the hash."""
    return store.query("SELECT peer, id, created FROM tokens ORDER BY peer, created")


def revoke(store: Store, peer_or_id: str, by: str = "cli") -> int:
    """Revoke every token of a peer, or the one token with this id; how many went.
    InputError when nothing matched."""
    with store.transaction():
        gone = _revoke_rows(store, "peer = ? OR id = ?", [peer_or_id, peer_or_id], by)
    if not gone:
        raise InputError(f"NAME: no token of a peer or with an id {peer_or_id!r} (`qalqan token list` shows them)")
    return gone


def _revoke_rows(store: Store, where: str, params: list, by: str) -> int:
    rows = store.query(f"SELECT id, peer FROM tokens WHERE {where}", params)
    for row in rows:
        store.conn.execute("DELETE FROM tokens WHERE id = ?", [row["id"]])
        store.audit("token-revoked", None, None, by, f"token {row['id']} of peer {row['peer']}")
    return len(rows)


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
