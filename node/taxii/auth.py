"""Who is asking: HTTP Basic (peer name + token), `Token <secret>` or `Bearer <secret>`.

No Authorization header means an anonymous caller, who may read `public` feeds only.
A header that is present but wrong is always a 401, even where anonymous access would do,
and is logged (the scheme, the peer name tried, the address; never the secret).
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from flask import g, request

from ..accesslog import set_caller
from ..appctx import current_node
from ..logs import get_logger, shown
from .errors import TaxiiError, unauthorized

log = get_logger(__name__)


@dataclass(frozen=True)
class Caller:
    peer: str | None  # None: anonymous

    @property
    def anonymous(self) -> bool:
        return self.peer is None

    @property
    def binding(self) -> str:
        """What paging tokens are bound to."""
        return self.peer or ""


def current_caller() -> Caller:
    caller = g.get("taxii_caller")
    if caller is None:
        try:
            caller = g.taxii_caller = identify(request.headers.get("Authorization"))
        except TaxiiError as exc:
            _log_failure(request.headers.get("Authorization") or "", exc.description)
            raise
        if caller.peer is not None:
            set_caller("peer", caller.peer)
    return caller


SCHEMES = ("basic", "token", "bearer")


def _log_failure(header: str, why: str) -> None:
    """The scheme (only a known one: a header that is a bare secret must not reach the
    log) and, for Basic, the peer name before the colon; never what follows it."""
    scheme, _, credentials = header.strip().partition(" ")
    named = scheme if scheme.lower() in SCHEMES else "unknown"
    log.warning("TAXII authentication failed from %s: %s (scheme %s%s)", request.remote_addr, why, named,
                _claimed_name(named, credentials))


def _claimed_name(scheme: str, credentials: str) -> str:
    """", peer NAME" for Basic credentials that have a colon, else ""."""
    if scheme.lower() != "basic":
        return ""
    try:
        name, colon, _ = base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return f", peer {shown(name, 32)}" if colon else ""


def identify(header: str | None) -> Caller:
    if header is None:
        return Caller(None)
    scheme, _, credentials = header.strip().partition(" ")
    scheme, credentials = scheme.lower(), credentials.strip()
    if not credentials:
        raise unauthorized()
    if scheme == "basic":
        name, secret = _basic_credentials(credentials)
        peer = current_node().peer_for_token(secret, claimed_peer=name)
        if peer != name:
            raise unauthorized()
        return Caller(peer)
    if scheme in ("token", "bearer"):
        peer = current_node().peer_for_token(credentials)
        if peer is None:
            raise unauthorized()
        return Caller(peer)
    raise unauthorized("unsupported authorization scheme: use Basic, Token or Bearer")


def _basic_credentials(encoded: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise unauthorized("malformed Basic credentials") from None
    name, colon, secret = decoded.partition(":")
    if not colon or not name or not secret:
        raise unauthorized("malformed Basic credentials")
    return name, secret
