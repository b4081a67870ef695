"""The trust store: pinned node cards and the keys they list.

A card is a node's self-signed identity carrying the node-keys extension
(docs/signing.md, "Node identity, keys and trust"). Pinning a card trusts its keys
for objects created by that identity. A newer version of a pinned card is taken
only when signed by a key the pinned version lists and has not revoked: that is how
keys rotate. A key revoked at time T verifies nothing received after T.

A node that lost its key cannot sign such a version: it publishes one signed by its new
key only (`key reset`), which partners take only by hand, with `replace` and the card's
fingerprint checked out of band.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass

from .errors import InputError, RevokedKey, SignatureError, UntrustedSigner
from .signing import (b64u_decode, b64u_encode, canonical, check_signature_fields, key_id_of, public_key_from_b64u,
                      raw_public_bytes, verify_with)
from .store import Store
from .timefmt import is_stix_timestamp, now_us, taxii_to_us, version_key
from .wellknown import NODE_KEYS_EXT


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    identity: str
    public_key: object  # Ed25519PublicKey
    revoked_us: int | None


def card_keys(card: dict) -> dict:
    """Check a card's form and return its node-keys extension."""
    if card.get("type") != "identity":
        raise InputError("a card is an identity object")
    extensions = card.get("extensions")
    ext = extensions.get(NODE_KEYS_EXT) if isinstance(extensions, dict) else None
    if not isinstance(ext, dict):
        raise InputError(f"{card.get('id')}: card carries no node-keys extension")
    problem = _node_keys_problem(ext)
    if problem:
        raise InputError(f"{card.get('id')}: node-keys extension is invalid: {problem}")
    for entry in ext["keys"]:
        if key_id_of(b64u_decode(entry["public_key"])) != entry["key_id"]:
            raise InputError(f"{card.get('id')}: key_id {entry['key_id']} does not match its public key")
    if card.get("created_by_ref") != card.get("id"):
        raise InputError(f"{card.get('id')}: a card must be created by the identity itself")
    return ext


_KEY_ID = re.compile(r"^sha256:[0-9a-f]{64}$")
_PUBLIC_KEY = re.compile(r"^[A-Za-z0-9_-]{43}$")
_KEY_FIELDS = {"key_id", "algorithm", "public_key", "valid_from", "revoked"}


def _node_keys_problem(ext: dict) -> str | None:
    """What is wrong with a node-keys extension (schemas/node-keys-v1.json), or None."""
    if set(ext) != {"extension_type", "keys", "country"} or ext["extension_type"] != "property-extension":
        return "expected exactly extension_type, keys and country"
    if not isinstance(ext["country"], str) or not re.match(r"^[A-Z]{2}$", ext["country"]):
        return "country must be an ISO 3166-1 alpha-2 code"
    if not isinstance(ext["keys"], list) or not ext["keys"]:
        return "keys must be a non-empty list"
    for entry in ext["keys"]:
        if not isinstance(entry, dict) or not set(entry) <= _KEY_FIELDS or not _KEY_FIELDS - {"revoked"} <= set(entry):
            return "each key has key_id, algorithm, public_key, valid_from and optionally revoked"
        if entry["algorithm"] != "Ed25519" or not isinstance(entry["key_id"], str) \
                or not _KEY_ID.match(entry["key_id"]) or not isinstance(entry["public_key"], str) \
                or not _PUBLIC_KEY.match(entry["public_key"]):
            return f"key {entry.get('key_id')!r} is malformed"
        for stamp in ("valid_from", "revoked"):
            if stamp in entry and not is_stix_timestamp(entry[stamp]):
                return f"key {entry['key_id']}: {stamp} is not a timestamp"
    return None


def verify_self_signed(card: dict, canonical_bytes: bytes | None = None) -> None:
    """A card must verify with one of the keys it lists itself."""
    ext = card_keys(card)
    sig = check_signature_fields(card)
    for entry in ext["keys"]:
        if entry["key_id"] == sig["key_id"]:
            verify_with(card, public_key_from_b64u(entry["public_key"]), canonical_bytes)
            return
    raise SignatureError(f"{card.get('id')}: card is not signed by a key it lists")


class TrustStore:
    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._keys: dict[str, TrustedKey] | None = None
        self._generation = None

    def check_for_changes(self) -> None:
        """Drop the cached keys if another process (e.g. `qalqan trust add` beside
        `serve`) changed them. Ingest calls this once per batch."""
        generation = self.store.one("SELECT COUNT(*) AS n, MAX(card_version) AS v, "
                                    "GROUP_CONCAT(COALESCE(revoked, '')) AS r FROM keys")
        generation = tuple(generation.values())
        with self._lock:
            if generation != self._generation:
                self._keys, self._generation = None, generation

    def _load(self) -> dict[str, TrustedKey]:
        with self._lock:
            if self._keys is None:
                keys = {}
                for row in self.store.query("SELECT * FROM keys"):
                    keys[row["key_id"]] = TrustedKey(
                        row["key_id"], row["identity"], public_key_from_b64u(row["public_key"]),
                        taxii_to_us(row["revoked"]) if row["revoked"] else None,
                    )
                self._keys = keys
            return self._keys

    def refresh(self) -> None:
        with self._lock:
            self._keys = None

    def pinned_card(self, identity: str) -> dict | None:
        row = self.store.one("SELECT json FROM cards WHERE identity = ?", [identity])
        return json.loads(row["json"]) if row else None

    def cards(self) -> list[dict]:
        return self.store.query("SELECT identity, version, name, country FROM cards ORDER BY name")

    def unpin(self, identity: str) -> bool:
        """Forget a pinned card and its keys: what that node signs from now on waits in
        the quarantine. Objects already stored stay. False when nothing was pinned."""
        with self.store.transaction() as db:
            db.execute("DELETE FROM keys WHERE identity = ?", [identity])
            gone = db.execute("DELETE FROM cards WHERE identity = ?", [identity]).rowcount
        self.refresh()
        return bool(gone)

    def verify(self, obj: dict, canonical_bytes: bytes | None = None, at_us: int | None = None,
               extra: dict[str, TrustedKey] | None = None) -> str:
        """Verify a received object's signature against the pinned keys (see verify_signature)."""
        keys = self._load()
        if extra:
            keys = {**extra, **keys}
        return verify_signature(obj, keys, canonical_bytes, at_us)

    def keys(self) -> dict[str, TrustedKey]:
        return self._load()

    def snapshot(self) -> list[tuple[str, str, str, int | None]]:
        """The pinned keys as plain data (key id, identity, public key, revoked),
        for verifying in worker processes."""
        return [(k.key_id, k.identity, b64u_encode(raw_public_bytes(k.public_key)), k.revoked_us)
                for k in self._load().values()]

    def pin(self, card: dict) -> str:
        """Pin a card handed over out of band (peer add, trust add, init).

        Returns 'pinned', 'unchanged' or 'rotated'."""
        verify_self_signed(card)
        current = self.store.one("SELECT version FROM cards WHERE identity = ?", [card["id"]])
        if current is None:
            self._write_card(card)
            return "pinned"
        new_version = version_key(card["modified"])
        if new_version == current["version"]:
            return "unchanged"
        if new_version < current["version"]:
            raise InputError(f"{card['id']}: an older card than the one pinned")
        self.verify(card)  # rotation: signed by a key the pinned version lists
        self._write_card(card)
        return "rotated"

    def replace(self, card: dict, fingerprint: str | None, by: str = "cli") -> str:
        """Take a card version of a pinned node that its pinned keys did not sign (the
        node lost its key and reset it), when `fingerprint` is the card's (None only for
        this node's own card). Keys the pinned version listed and the new one revokes
        or drops stop verifying as of the revocation. Audited. Returns 'replaced'."""
        verify_self_signed(card)
        current = self.store.one("SELECT version FROM cards WHERE identity = ?", [card["id"]])
        if current is None:
            raise InputError(f"{card['id']}: no card pinned for this node; use `trust add`")
        if version_key(card["modified"]) <= current["version"]:
            raise InputError(f"{card['id']}: not newer than the card pinned; a replacement must be a later version")
        actual = card_fingerprint(card)
        if fingerprint is not None and normal_fingerprint(fingerprint) != actual:
            raise InputError(f"--fingerprint: does not match the card's fingerprint {actual}; "
                             "check the card with its owner")
        self._write_card(card)
        with self.store.transaction():
            self.store.audit("trust-replaced", card["id"], card["modified"], by,
                             f"card of {card.get('name')} replaced by hand; now signed by {actual}")
        return "replaced"

    def check_card_update(self, card: dict) -> None:
        """Raise InputError if a verified card version could not be taken as it is
        (malformed keys, or a key that another node owns)."""
        ext = card_keys(card)
        self._check_key_owners(card["id"], ext)

    def _check_key_owners(self, identity: str, ext: dict) -> None:
        for entry in ext["keys"]:
            owner = self.store.one("SELECT identity FROM keys WHERE key_id = ?", [entry["key_id"]])
            if owner and owner["identity"] != identity:
                raise InputError(f"{identity}: key {entry['key_id']} is already pinned for {owner['identity']}")

    def apply_card_version(self, card: dict) -> None:
        """A verified newer card version arrived through ingest: take its keys."""
        current = self.store.one("SELECT version FROM cards WHERE identity = ?", [card["id"]])
        if current is not None and version_key(card["modified"]) > current["version"]:
            card_keys(card)
            self._write_card(card)

    def _write_card(self, card: dict) -> None:
        ext = card_keys(card)
        version = version_key(card["modified"])
        self._check_key_owners(card["id"], ext)
        with self.store.transaction() as db:
            listed = {entry["key_id"] for entry in ext["keys"]}
            # Keys a newer card no longer lists stop verifying from now on.
            for row in self.store.query("SELECT key_id FROM keys WHERE identity = ? AND revoked IS NULL",
                                        [card["id"]]):
                if row["key_id"] not in listed:
                    db.execute("UPDATE keys SET revoked = ? WHERE key_id = ?", [card["modified"], row["key_id"]])
            for entry in ext["keys"]:
                db["keys"].upsert({
                    "key_id": entry["key_id"], "identity": card["id"], "public_key": entry["public_key"],
                    "valid_from": entry["valid_from"], "revoked": entry.get("revoked"), "card_version": version,
                }, pk="key_id")
            db["cards"].upsert({"identity": card["id"], "version": version, "name": card.get("name"),
                                "country": ext.get("country"), "json": canonical(card).decode("utf-8")},
                               pk="identity")
        self.refresh()


def card_fingerprint(card: dict) -> str:
    """What a partner compares by phone before taking a card by hand: the key id
    (sha256 of the raw public key) of the key that signed it, the node's new key."""
    return check_signature_fields(card)["key_id"]


def normal_fingerprint(text: str) -> str:
    """A fingerprint as typed: case, spaces and colons between hex groups do not matter."""
    digits = re.sub(r"[\s:]", "", text.strip().lower().removeprefix("sha256:"))
    return "sha256:" + digits


def keys_from_snapshot(snapshot: list[tuple[str, str, str, int | None]]) -> dict[str, TrustedKey]:
    return {kid: TrustedKey(kid, identity, public_key_from_b64u(pub), revoked) for kid, identity, pub, revoked in snapshot}


def verify_signature(obj: dict, keys: dict[str, TrustedKey], canonical_bytes: bytes | None = None,
                     at_us: int | None = None) -> str:
    """Step 3 of receiving: returns the key id, raises UntrustedSigner when the key is
    not pinned (quarantine) and SignatureError when the signature is wrong or the
    key revoked (reject)."""
    sig = check_signature_fields(obj)
    key = keys.get(sig["key_id"])
    if key is None:
        raise UntrustedSigner(f"{obj.get('id')}: unknown signer key {sig['key_id']} of {sig['signer']}")
    if key.identity != sig["signer"]:
        raise SignatureError(f"{obj.get('id')}: key {sig['key_id']} belongs to another node")
    if key.revoked_us is not None and (at_us or now_us()) >= key.revoked_us:
        raise RevokedKey(f"{obj.get('id')}: key {sig['key_id']} was revoked")
    verify_with(obj, key.public_key, canonical_bytes)
    return key.key_id


def keys_of_card(card: dict) -> dict[str, TrustedKey]:
    """The keys of a card that verifies with itself (used by `verify FILE`)."""
    verify_self_signed(card)
    return {
        e["key_id"]: TrustedKey(e["key_id"], card["id"], public_key_from_b64u(e["public_key"]),
                                taxii_to_us(e["revoked"]) if e.get("revoked") else None)
        for e in card_keys(card)["keys"]
    }
