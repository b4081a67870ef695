"""Deterministic ids of STIX Cyber-observable Objects (STIX 2.1 §2.9).

SCOs are not signed: their id is the UUIDv5 of their ID-contributing properties,
so a receiver recomputes it and a signed SDO that refers to the id pins the content.
"""
from __future__ import annotations

import uuid

import rfc8785

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
_HASH_PREFERENCE = ("MD5", "SHA-1", "SHA-256", "SHA-512")
_NAMESPACE = uuid.UUID(SCO_NAMESPACE)


def _one_hash(hashes: dict) -> dict | None:
    for name in _HASH_PREFERENCE:
        if name in hashes:
            return {name: hashes[name]}
    for name, value in hashes.items():
        return {name: value}
    return None


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
