"""Deterministic ids of STIX Cyber-observable Objects (STIX 2.1 §2.9).

SCOs are not signed: their id is the UUIDv5 of their ID-contributing properties,
so a receiver recomputes it and a signed SDO that refers to the id pins the content.
That only holds when the id cannot be chosen freely: an SCO must have its type's
required properties, and one with no ID-contributing property must carry a random
UUIDv4, never a v5 that could be the content-derived id of another SCO.
"""
from __future__ import annotations

import uuid

import rfc8785

from .errors import InputError
from .wellknown import SCO_NAMESPACE

# STIX 2.1 §6: the ID-contributing properties of each SCO type.
ID_CONTRIBUTING = {
    "artifact": ("hashes", "payload_bin"),
    "autonomous-system": ("number",),
    "directory": ("path",),
    "domain-name": ("value",),
    "email-addr": ("value",),
    "email-message": ("from_ref", "subject", "body"),
    "file": ("hashes", "name", "parent_directory_ref", "extensions"),
    "ipv4-addr": ("value",),
    "ipv6-addr": ("value",),
    "mac-addr": ("value",),
    "mutex": ("name",),
    "network-traffic": ("start", "end", "src_ref", "dst_ref", "src_port", "dst_port", "protocols", "extensions"),
    "process": (),
    "software": ("name", "cpe", "swid", "vendor", "version"),
    "url": ("value",),
    "user-account": ("account_type", "user_id", "account_login"),
    "windows-registry-key": ("key", "values"),
    "x509-certificate": ("hashes", "serial_number"),
}
SCO_TYPES = frozenset(ID_CONTRIBUTING)


def _text(value) -> bool:
    return isinstance(value, str) and value != ""


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _hashes(value) -> bool:
    return isinstance(value, dict) and bool(value) and all(_text(v) for v in value.values())


def _texts(value) -> bool:
    return isinstance(value, list) and bool(value) and all(_text(v) for v in value)


# STIX 2.1 §6: the required properties of each SCO type, as alternatives (one of them
# must be present) with the check its value must pass.
REQUIRED = {
    "artifact": {"payload_bin": _text, "url": _text},
    "autonomous-system": {"number": _integer},
    "directory": {"path": _text},
    "domain-name": {"value": _text},
    "email-addr": {"value": _text},
    "email-message": {"is_multipart": lambda v: isinstance(v, bool)},
    "file": {"hashes": _hashes, "name": _text},
    "ipv4-addr": {"value": _text},
    "ipv6-addr": {"value": _text},
    "mac-addr": {"value": _text},
    "mutex": {"name": _text},
    "network-traffic": {"protocols": _texts},
    "software": {"name": _text},
    "url": {"value": _text},
}
_HASH_PREFERENCE = ("MD5", "SHA-1", "SHA-256", "SHA-512")
_NAMESPACE = uuid.UUID(SCO_NAMESPACE)


def _one_hash(hashes: dict) -> dict | None:
    for name in _HASH_PREFERENCE:
        if name in hashes:
            return {name: hashes[name]}
    for name, value in hashes.items():
        return {name: value}
    return None


def check_sco_id(obj: dict) -> None:
    """Step 3b of receiving (docs/signing.md): the SCO has its type's required
    properties and the id its content dictates. Raises InputError."""
    oid, required = obj["id"], REQUIRED.get(obj["type"], {})
    if required and not any(key in obj and valid(obj[key]) for key, valid in required.items()):
        names = " or ".join(f"'{key}'" for key in required)
        raise InputError(f"{oid}: a {obj['type']} needs {names} (STIX 2.1 required property)")
    expected = deterministic_id(obj)
    if expected is None:
        if uuid.UUID(oid.split("--", 1)[1]).version != 4:
            raise InputError(f"{oid}: an SCO with no ID-contributing property must have a UUIDv4 id")
    elif expected != oid:
        raise InputError(f"SCO id does not match its content (expected {expected})")


def deterministic_id(obj: dict) -> str | None:
    """The id an SCO must carry, or None when it has no contributing properties
    (then any UUIDv4 is allowed)."""
    contributing = {}
    for key in ID_CONTRIBUTING.get(obj["type"], ()):
        if key in obj:
            value = obj[key]
            if key == "hashes" and isinstance(value, dict):
                value = _one_hash(value)
            contributing[key] = value
    if not contributing:
        return None
    name = rfc8785.dumps(contributing).decode("utf-8")
    return f"{obj['type']}--{uuid.uuid5(_NAMESPACE, name)}"
