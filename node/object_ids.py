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

import hashlib
import hmac
import os
import secrets
import tempfile
import uuid
from pathlib import Path

from .errors import ConfigError

SECRET_FILE = "object-ids.secret"
SECRET_BYTES = 32


def secret_path(home: Path, name: str = SECRET_FILE) -> Path:
    return Path(home) / "keys" / name


def create_secret(home: Path, name: str = SECRET_FILE) -> None:
    """Make keys/object-ids.secret (or keys/NAME) unless it exists. It is written whole
    to a temporary file and then linked into place, so no process ever reads it
    half-written, and linking never replaces a secret another process made first."""
    path = secret_path(home, name)
    if path.exists():
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.")  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(SECRET_BYTES))
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
    finally:
        os.unlink(tmp)


def _secret(home: Path) -> bytes:
    create_secret(home)  # a home made before `init` made it
    path = secret_path(home)
    key = path.read_bytes()
    if len(key) < SECRET_BYTES:
        raise ConfigError(f"{path}: the object-id secret is {len(key)} bytes, fewer than {SECRET_BYTES}; "
                          "restore it from a backup (a new one changes the ids of new shared objects)")
    return key


class ScopedIds:
    def __init__(self, home: Path):
        self._key = _secret(home)

    def __call__(self, stix_type: str, key: str, tlp: str) -> str:
        digest = hmac.new(self._key, "\x00".join((stix_type, key, tlp)).encode("utf-8"), hashlib.sha256).digest()
        return f"{stix_type}--{uuid.UUID(bytes=digest[:16], version=4)}"
