"""Stateless `next` tokens (checklist F5, F11).

A token is the position of the last item of a page (its date_added) and a MAC over
that position, the query it belongs to and the caller. Nothing is kept on the server,
so a page can be fetched again; a token used with other match[] filters, another
collection or by another caller fails the MAC check and is refused with a 400.

`added_after` is not bound: a token is a resume point and `added_after` a filter, and a
request with both reads after the later of the two (`start`). So a client may follow
`next` with the listing's `added_after` or without it (OpenCTI's TAXII 2 import connector
drops it), and one that sends last listing's `next` with a newer `added_after` (the same
connector's next run) still gets every object added since, once.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct

from .errors import TaxiiError

_MAC_BYTES = 16
_LABEL = b"qalqan taxii next v1"


def _mac(secret: bytes, position: int, scope: str) -> bytes:
    key = hmac.new(secret, _LABEL, hashlib.sha256).digest()
    message = struct.pack(">q", position) + scope.encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).digest()[:_MAC_BYTES]


def start(position: int, added_after: int | None) -> int:
    """Where a request with a valid token reads from."""
    return position if added_after is None else max(position, added_after)


def scope_of(endpoint: str, collection_id: str, object_id: str | None, raw_filters, caller: str) -> str:
    """Everything a token is bound to (all but `added_after`, `limit` and `next`), as one string."""
    filters = "&".join(f"{k}={v}" for k, v in raw_filters)
    return "\n".join((endpoint, collection_id, object_id or "", filters, caller))


def make_token(secret: bytes, position: int, scope: str) -> str:
    data = struct.pack(">q", position) + _mac(secret, position, scope)
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def read_token(secret: bytes, token: str, scope: str) -> int:
    """The position a token encodes; 400 if it is forged or belongs to another query or caller."""
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        data = b""
    if len(data) != 8 + _MAC_BYTES:
        raise TaxiiError(400, "next: not a paging token of this server")
    position = struct.unpack(">q", data[:8])[0]
    if not hmac.compare_digest(data[8:], _mac(secret, position, scope)):
        raise TaxiiError(400, "next: this token does not belong to this query and caller")
    return position
