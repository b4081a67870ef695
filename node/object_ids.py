"""Ids of the node-scoped objects an incident shares with others of the node (target
countries as `location`, suspected sources as `threat-actor`).

They are reused across incidents, so they must be stable; but an id others can compute
lets a partner plant an object under it first (the node would then reference and show
the partner's object as its own). So each id is an HMAC, under a secret that never leaves
the node (keys/object-ids.secret, 0600), of the object's type, its key (a country code, a
name) and the TLP of the incident that made it: an object made for a red incident is a
different object from the one a green incident uses, so it never leaves the node with it.
The result is shaped as a UUIDv4, as STIX recommends for SDOs.
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import uuid
from pathlib import Path

SECRET_FILE = "object-ids.secret"


def _secret(home: Path) -> bytes:
    path = Path(home) / "keys" / SECRET_FILE
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    return path.read_bytes()


class ScopedIds:
    def __init__(self, home: Path):
        self._key = _secret(home)

    def __call__(self, stix_type: str, key: str, tlp: str) -> str:
        digest = hmac.new(self._key, "\x00".join((stix_type, key, tlp)).encode("utf-8"), hashlib.sha256).digest()
        return f"{stix_type}--{uuid.UUID(bytes=digest[:16], version=4)}"
