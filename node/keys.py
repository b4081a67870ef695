"""This node's own signing keys and card (docs/signing.md, "Node identity, keys and
trust"; rotation).

Private keys live in `keys/` and are written 0600 with O_EXCL, never over another file.
A rotation writes the new key to `keys/node.key.next` first, publishes a card version
listing it (signed by the current key, so partners accept it), and only then puts the
new key in place: a crash in between leaves the old key in use, and opening the home
again finishes what was started.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import stix2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import ConfigError, InputError
from .incident import stix_now
from .signing import (SigningKey, b64u_encode, key_id_of, load_private_key, private_key_pem, public_key_pem,
                      raw_public_bytes, sign)
from .wellknown import NODE_KEYS_EXT

KEY_FILE = "node.key"
NEXT_KEY_FILE = "node.key.next"
PUBLIC_FILE = "node.pub"


def write_private(path: Path, data: bytes) -> None:
    """Write secret bytes to a new file only its owner can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o600)


def key_entry(public_key: Ed25519PublicKey, valid_from: str) -> dict:
    """A key as a card's node-keys extension lists it."""
    pub = raw_public_bytes(public_key)
    return {"key_id": key_id_of(pub), "algorithm": "Ed25519", "public_key": b64u_encode(pub),
            "valid_from": valid_from}


def make_card(identity: str, name: str, country: str, key: Ed25519PrivateKey, created: str | None = None,
              extra_keys: list[dict] = ()) -> dict:
    """A node's card: its identity listing `extra_keys` and `key`, self-signed with `key`."""
    now = stix_now()
    keys = [*extra_keys, key_entry(key.public_key(), now)]
    card = json.loads(stix2.Identity(
        id=identity, name=name, identity_class="organization", created_by_ref=identity,
        created=created or now, modified=now,
        extensions={NODE_KEYS_EXT: {"extension_type": "property-extension", "keys": keys, "country": country}},
    ).serialize())
    return sign(card, SigningKey(key, identity))


MAX_ORGANISATION = 300


def check_organisation(value: str, option: str = "--org") -> str:
    """The organisation a card names: printable text, at most 300 characters."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{option}: the organisation's name is required")
    if len(value) > MAX_ORGANISATION:
        raise InputError(f"{option}: longer than {MAX_ORGANISATION} characters")
    if not value.isprintable() or value != value.strip():
        raise InputError(f"{option}: {value!r} has control characters or spaces at its ends")
    return value


def renamed_card(card: dict, current: SigningKey, organisation: str) -> dict:
    """The card version naming `organisation`, signed by the current key (so partners
    take it like any card version); keys and country unchanged."""
    unsigned = {k: v for k, v in card.items() if k != "extensions"}
    unsigned.update(name=check_organisation(organisation), modified=stix_now())
    unsigned["extensions"] = {NODE_KEYS_EXT: card["extensions"][NODE_KEYS_EXT]}
    return sign(unsigned, current)


def write_new_key(keys_dir: Path) -> Ed25519PrivateKey:
    """Make the key pair of a new home (keys/node.key and keys/node.pub)."""
    key = Ed25519PrivateKey.generate()
    write_private(keys_dir / KEY_FILE, private_key_pem(key))
    (keys_dir / PUBLIC_FILE).write_bytes(public_key_pem(key.public_key()))
    return key


def load_signing_key(keys_dir: Path, identity: str) -> SigningKey:
    path = keys_dir / KEY_FILE
    try:
        return SigningKey(load_private_key(path.read_bytes()), identity)
    except FileNotFoundError:
        raise ConfigError(f"{path}: the node key is missing") from None
    except ValueError:
        raise ConfigError(f"{path}: not a PEM PKCS#8 private key") from None


def next_card(card: dict, current: SigningKey, new_key: Ed25519PrivateKey, revoke_old: bool) -> dict:
    """The card version that adds `new_key` (and revokes the current key if asked),
    signed by the current key."""
    now = stix_now()
    keys = [dict(k) for k in card["extensions"][NODE_KEYS_EXT]["keys"]]
    if revoke_old:
        for entry in keys:
            if entry["key_id"] == current.key_id:
                entry["revoked"] = now
    keys.append(key_entry(new_key.public_key(), now))
    unsigned = {k: v for k, v in card.items() if k != "extensions"}
    unsigned["modified"] = now
    unsigned["extensions"] = {NODE_KEYS_EXT: {**card["extensions"][NODE_KEYS_EXT], "keys": keys}}
    return sign(unsigned, current)


def reset_card(card: dict, new_key: Ed25519PrivateKey, revoked_at: str) -> dict:
    """The card version of a node that lost its key: every key not yet revoked is
    revoked at `revoked_at`, the new key is added, and the card is signed by the new
    key only (the old one may be gone, or in someone else's hands)."""
    keys = [dict(k) for k in card["extensions"][NODE_KEYS_EXT]["keys"]]
    for entry in keys:
        entry.setdefault("revoked", revoked_at)
    now = stix_now()
    keys.append(key_entry(new_key.public_key(), now))
    unsigned = {k: v for k, v in card.items() if k != "extensions"}
    unsigned["modified"] = now
    unsigned["extensions"] = {NODE_KEYS_EXT: {**card["extensions"][NODE_KEYS_EXT], "keys": keys}}
    return sign(unsigned, SigningKey(new_key, card["id"]))


def reset(keys_dir: Path, card: dict, publish: Callable[[dict], None], revoked_at: str | None = None) -> dict:
    """Start a key reset like a rotation (the new key goes to keys/node.key.next
    first; `finish_rotation` puts it in place), but without the current key.
    Returns the new card."""
    new_key = Ed25519PrivateKey.generate()
    next_path = keys_dir / NEXT_KEY_FILE
    next_path.unlink(missing_ok=True)
    write_private(next_path, private_key_pem(new_key))
    new_card = reset_card(card, new_key, revoked_at or stix_now())
    try:
        publish(new_card)
    except BaseException:
        next_path.unlink(missing_ok=True)
        raise
    return new_card


def rotate(keys_dir: Path, card: dict, current: SigningKey, publish: Callable[[dict], None],
           revoke_old: bool = False) -> str:
    """Start a rotation: the new key goes to disk, then `publish` stores the card
    listing it (and raises if it cannot). Returns the new key id; `finish_rotation`
    puts the key in place."""
    new_key = Ed25519PrivateKey.generate()
    next_path = keys_dir / NEXT_KEY_FILE
    next_path.unlink(missing_ok=True)
    write_private(next_path, private_key_pem(new_key))  # on disk before any partner can hear of it
    try:
        publish(next_card(card, current, new_key, revoke_old))
    except BaseException:
        next_path.unlink(missing_ok=True)
        raise
    return key_id_of(new_key.public_key())


def finish_rotation(keys_dir: Path, pinned_card: dict | None) -> bool:
    """Put keys/node.key.next in place once the pinned card lists it; a rotation
    interrupted before that leaves the old key in use. Idempotent. True when the
    key in use changed."""
    next_path = keys_dir / NEXT_KEY_FILE
    if not next_path.exists():
        return False
    new_key = load_private_key(next_path.read_bytes())
    listed = {k["key_id"] for k in (pinned_card or {}).get("extensions", {}).get(NODE_KEYS_EXT, {}).get("keys", [])}
    if key_id_of(new_key.public_key()) not in listed:
        next_path.unlink()
        return False
    current = keys_dir / KEY_FILE
    if current.exists():
        old_id = key_id_of(load_private_key(current.read_bytes()).public_key())
        os.replace(current, keys_dir / f"{KEY_FILE}.{old_id[7:19]}.retired")
    os.replace(next_path, current)
    (keys_dir / PUBLIC_FILE).write_bytes(public_key_pem(new_key.public_key()))
    return True
