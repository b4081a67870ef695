"""TAXII 2.1 with one peer, through taxii2-client.

taxii2-client hides response headers and parses JSON leniently, so `PeerConnection`
replaces its GET: strict parsing (duplicate keys, NaN, lone surrogates are refused,
as for every door into the node), a deadline and a byte cap on every answer, and the last page's
`X-TAXII-Date-Added-Last` kept for the caller. Paging is done here rather than with
`as_pages`, which loops forever on a server that sends `more` without `next`.
"""
from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import urlsplit

import requests
import urllib3
from taxii2client.common import TokenAuth, _HTTPConnection
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import MEDIA_TYPE_TAXII_V21, ApiRoot, Collection

from .. import wire
from ..config import Peer
from ..errors import InputError, PeerError, QalqanError
from ..logs import printable
from ..timefmt import taxii_to_us

DATE_ADDED_LAST = "X-TAXII-Date-Added-Last"
MANIFEST_IDS_PER_REQUEST = 50


class _TimeoutSession(requests.Session):
    """Every request has a deadline for its whole answer (`timeout` seconds, not per read,
    so a partner that drips bytes cannot hold sync) and a cap on its body's bytes, counted
    after decompression (so an endless or huge body cannot fill memory)."""

    def __init__(self, timeout: float, ca: str | None = None, max_bytes: int = 64 * 1024 * 1024):
        super().__init__()
        self.timeout = timeout
        self.ca = ca
        self.max_bytes = max_bytes

    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        if self.ca:  # per request, or REQUESTS_CA_BUNDLE in the environment would win over the peer's `ca`
            kwargs.setdefault("verify", self.ca)
        deadline = time.monotonic() + self.timeout
        try:
            resp = super().request(*args, stream=True, **kwargs)
        except requests.ConnectionError as exc:
            exc.client_cert_sent = bool(self.cert)  # for tls_failure: a silent close means one thing or the other
            raise
        try:
            resp._content = self._read_body(resp, deadline)
        finally:
            resp.close()
        return resp

    def _read_body(self, resp: requests.Response, deadline: float) -> bytes:
        body = bytearray()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PeerError(f"{resp.url} did not finish its answer within sync.timeout "
                                f"({self.timeout:g} s); gave up after {len(body)} bytes")
            _set_read_timeout(resp, remaining)
            try:
                chunk = resp.raw.read1(_CHUNK, decode_content=True)
            except (urllib3.exceptions.ReadTimeoutError, TimeoutError, socket.timeout):
                continue  # the deadline check above names it
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise requests.ConnectionError(f"{resp.url}: the answer broke off ({exc})", request=resp.request)
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > self.max_bytes:
                raise PeerError(f"{resp.url} answered with more than sync.max_response_bytes "
                                f"({self.max_bytes} bytes); refused")


_CHUNK = 64 * 1024


def _set_read_timeout(resp: requests.Response, seconds: float) -> None:
    """Shorten the socket's read timeout to what is left of the deadline, so one silent
    read cannot outlast it."""
    sock = getattr(getattr(resp.raw, "_connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, 0.01))


def auth_for(secret: str | None) -> requests.auth.AuthBase | None:
    """`USER:PASSWORD` is sent as HTTP Basic (servers such as medallion); any other
    secret as `Authorization: Token <secret>` (Qalqan nodes)."""
    if not secret:
        return None
    if ":" in secret:
        user, password = secret.split(":", 1)
        return requests.auth.HTTPBasicAuth(user, password)
    return TokenAuth(secret)


class PeerConnection(_HTTPConnection):
    def __init__(self, secret: str | None, timeout: float, ca: str | None = None,
                 client_cert: tuple[str, str] | None = None, max_bytes: int = 64 * 1024 * 1024):
        """`ca`: the CA bundle (or self-signed certificate) to trust instead of the
        system's; `client_cert`: (certificate, key) files to present for mutual TLS."""
        super().__init__(version="2.1")
        self.session.close()  # replaced by one that puts a timeout on every request
        self.session = _TimeoutSession(timeout, ca, max_bytes)
        self.session.auth = auth_for(secret)
        self.session.cert = client_cert
        self.last_headers: requests.structures.CaseInsensitiveDict = requests.structures.CaseInsensitiveDict()

    def get(self, url, headers=None, params=None):
        merged = self._merge_headers(headers)
        merged.setdefault("Accept", MEDIA_TYPE_TAXII_V21)
        resp = self.session.get(url, headers=merged, params=params)
        resp.raise_for_status()
        content_type = resp.headers.get("Content-Type", "")
        if not self.valid_content_type(content_type=content_type, accept=merged["Accept"]):
            raise TAXIIServiceException(f"{url} answered with Content-Type {content_type!r}, not TAXII 2.1")
        self.last_headers = resp.headers
        return wire.loads(resp.content)


@dataclass
class Page:
    objects: list[dict]
    date_added_last: str | None
    more: bool


def is_expected_failure(exc: BaseException) -> bool:
    """A failure sync reports in one sentence: a refusal from our rules or the peer, or
    the network. Anything else is a bug and deserves its traceback in the log."""
    return isinstance(exc, (QalqanError, requests.RequestException, TAXIIServiceException))


def describe(exc: BaseException) -> str:
    """One sentence for the peers table and stderr."""
    if isinstance(exc, QalqanError):
        return exc.message
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        said = f"HTTP {exc.response.status_code} from {exc.response.url}{_taxii_error_title(exc.response)}"
        return said + (_TOKEN_REFUSED if exc.response.status_code == 401 else "")
    if isinstance(exc, requests.ConnectionError):
        tls = tls_failure(exc)
        if tls:
            return f"TLS with {exc.request.url if exc.request else 'the peer'} failed: {tls}"
    if isinstance(exc, requests.Timeout):
        return f"no answer within the timeout ({exc.request.url if exc.request else 'request'})"
    if isinstance(exc, requests.ConnectionError):
        return f"cannot connect ({exc.request.url if exc.request else 'peer'})"
    return f"{type(exc).__name__}: {exc}"


_TOKEN_REFUSED = (" (the partner does not accept this node's token: revoked or wrong; ask it for a new one, "
                  "e.g. a new invitation)")

# OpenSSL verification codes (X509_V_ERR_*) a partner's certificate most often fails with
_UNTRUSTED = {18, 19, 20, 21, 2, 27}
_EXPIRED, _NOT_YET_VALID, _NAME_MISMATCH, _IP_MISMATCH = 10, 9, 62, 64


_CERT_REQUIRED = ("the partner requires a client certificate: set the peer's `client_cert` and `client_key` "
                  "(`qalqan tls client-cert` makes them)")


def tls_failure(exc: BaseException) -> str | None:
    """What went wrong in the TLS handshake behind a requests error, in one sentence
    an operator can act on; None when the failure was not TLS."""
    cause = _ssl_cause(exc)
    if cause is None:
        return _closed_after_handshake(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        code = cause.verify_code
        if code in _UNTRUSTED:
            return ("the partner's certificate is not trusted (issued by an unknown CA, or self-signed): "
                    "set the peer's `ca` to the CA bundle or certificate the partner gave you")
        if code == _EXPIRED:
            return "the partner's certificate has expired"
        if code == _NOT_YET_VALID:
            return "the partner's certificate is not valid yet (check both clocks)"
        if code in (_NAME_MISMATCH, _IP_MISMATCH):
            return "the partner's certificate is for another name than the host in the peer's url"
        return f"the partner's certificate was refused ({cause.verify_message})"
    reason = (cause.reason or str(cause)).upper()
    if "CERTIFICATE_REQUIRED" in reason or "HANDSHAKE_FAILURE" in reason:
        return _CERT_REQUIRED
    if "UNKNOWN_CA" in reason or "BAD_CERTIFICATE" in reason or "CERTIFICATE_UNKNOWN" in reason:
        return ("the partner did not accept this node's client certificate "
                "(its CA is not in the partner's tls_client_ca)")
    if "CERTIFICATE_EXPIRED" in reason:
        return "the partner refused this node's client certificate as expired"
    if isinstance(cause, ssl.SSLEOFError) or "EOF" in reason:
        # A server that refuses the client certificate, or misses one, may close without
        # its alert reaching us: what this node sent tells which.
        return _closed_without_answer("during the TLS handshake", getattr(exc, "client_cert_sent", None))
    return f"handshake error ({cause.reason or cause})"


def _closed_after_handshake(exc: BaseException) -> str | None:
    """Under TLS 1.3 a client's handshake ends before the server has checked its
    certificate; a server that then refuses it may close without its alert reaching us,
    and the request fails with no answer: the likely reading of such a close."""
    url = exc.request.url if getattr(exc, "request", None) is not None else ""
    sent = getattr(exc, "client_cert_sent", None)
    if not url.startswith("https://") or sent is None:
        return None
    if not _caused_by(exc, (http.client.RemoteDisconnected, ConnectionResetError)):
        return None
    return _closed_without_answer("right after the TLS handshake without answering", sent)


def _closed_without_answer(when: str, client_cert_sent: bool | None) -> str:
    """A close is the likely sign of a missing or refused client certificate, not a
    certain one: a restart or a proxy's reset looks the same, so the sentence says so."""
    if client_cert_sent is False:
        likely = ("it most likely requires a client certificate: set the peer's `client_cert` and `client_key` "
                  "(`qalqan tls client-cert` makes them)")
    else:
        likely = ("it most likely did not accept this node's client certificate (check the peer's client_cert "
                  "and the partner's tls_client_ca)")
    return (f"the partner closed the connection {when}; {likely}; "
            "otherwise it restarted or something in between reset the connection")


def _caused_by(exc: BaseException, kinds: tuple, depth: int = 0) -> bool:
    if isinstance(exc, kinds):
        return True
    if depth > 6:
        return False
    inner = [*(a for a in exc.args if isinstance(a, BaseException)), getattr(exc, "reason", None),
             exc.__cause__, exc.__context__]
    return any(isinstance(c, BaseException) and _caused_by(c, kinds, depth + 1) for c in inner)


def _ssl_cause(exc: BaseException, depth: int = 0) -> ssl.SSLError | None:
    """The ssl.SSLError that requests and urllib3 wrap (in args, `reason`, causes)."""
    if isinstance(exc, ssl.SSLError):
        return exc
    if depth > 6 or not isinstance(exc, BaseException):
        return None
    inner = [*(a for a in exc.args if isinstance(a, BaseException)), getattr(exc, "reason", None),
             exc.__cause__, exc.__context__]
    for candidate in inner:
        if isinstance(candidate, BaseException):
            found = _ssl_cause(candidate, depth + 1)
            if found is not None:
                return found
    return None


def _taxii_error_title(response: requests.Response) -> str:
    """': <title>' of a TAXII error body, if the peer sent one."""
    try:
        body = wire.loads(response.content)
    except InputError:
        return ""
    title = body.get("title") if isinstance(body, dict) else None
    return f": {title}" if isinstance(title, str) and title else ""


def origin(url: str) -> str:
    """scheme://host:port of a URL, the port spelled out, the host lower-cased."""
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        port = None  # not a port: never equal to a real origin
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"


class PeerClient:
    """One peer's TAXII server: its collections by configured feed name or id, pages, posts."""

    def __init__(self, peer: Peer, timeout: float, max_bytes: int = 64 * 1024 * 1024):
        self.peer = peer
        cert = (peer.tls_file("client_cert"), peer.tls_file("client_key")) if peer.client_cert else None
        self.conn = PeerConnection(peer.secret(), timeout, peer.tls_file("ca"), cert, max_bytes)
        self._collections: list[Collection] | None = None

    @classmethod
    def configured(cls, peer: Peer, config) -> "PeerClient":
        """A client with the node's sync.timeout and sync.max_response_bytes."""
        return cls(peer, float(config["sync.timeout"]), int(config["sync.max_response_bytes"]))

    def close(self) -> None:
        self.conn.close()

    def collections(self) -> list[Collection]:
        if self._collections is None:
            root = ApiRoot(self._api_root_url(), conn=self.conn)
            self._collections = list(root.collections)
        return self._collections

    def _api_root_url(self) -> str:
        url = self.peer.url if self.peer.url.endswith("/") else self.peer.url + "/"
        answer = self.conn.get(url)
        if "api_roots" not in answer and "versions" in answer:
            return url  # the peer's URL is an API root itself
        roots = answer.get("api_roots") or []
        chosen = answer.get("default") or (roots[0] if roots else None)
        if not isinstance(chosen, str):
            raise PeerError(f"peer {self.peer.name}: discovery at {url} lists no API root")
        root = requests.compat.urljoin(url, chosen)
        if origin(root) != origin(url):
            # The token goes with every request to the API root: never off the peer's origin.
            raise PeerError(f"peer {self.peer.name}: discovery at {url} names an API root on another origin "
                            f"({printable(origin(root))}); refused, API roots must be on the peer's own origin")
        return root

    def collection(self, ref: str) -> Collection:
        """The peer's collection for a configured feed: by id, else by alias (a Qalqan
        node's feed name), else by title; a name two collections answer to is refused."""
        for field in ("id", "alias", "title"):
            found = [c for c in self.collections() if getattr(c, field) == ref]
            if len(found) > 1:
                raise PeerError(f"peer {self.peer.name} offers {len(found)} collections with the {field} {ref!r}; "
                                "configure the collection id instead")
            if found:
                return found[0]
        raise PeerError(f"peer {self.peer.name} offers no collection {ref!r} to this node (by id, alias or title)")

    def pages(self, collection: Collection, added_after: str | None, limit: int) -> Iterator[Page]:
        filters = {"added_after": added_after} if added_after else {}
        next_token = None
        while True:
            # Every version, not only the latest: partners keep the history too.
            envelope = collection.get_objects(limit=limit, next=next_token, version="all", **filters)
            objects = envelope.get("objects") or []
            last = self.conn.last_headers.get(DATE_ADDED_LAST)
            if objects and not last:
                last = self._date_added_last_from_manifest(collection, objects)
            more = bool(envelope.get("more"))
            yield Page(objects, last, more)
            if not more:
                return
            if envelope.get("next"):
                if envelope["next"] == next_token and not objects:
                    raise PeerError(f"peer {self.peer.name} repeats an empty page with the same 'next'")
                next_token = envelope["next"]
            elif last:
                filters, next_token = {"added_after": last}, None
            else:
                raise PeerError(f"peer {self.peer.name} says there is more but gives neither 'next' nor "
                                f"{DATE_ADDED_LAST}")

    def _date_added_last_from_manifest(self, collection: Collection, objects: list[dict]) -> str | None:
        ids = sorted({o["id"] for o in objects if isinstance(o, dict) and isinstance(o.get("id"), str)})
        newest: str | None = None
        for start in range(0, len(ids), MANIFEST_IDS_PER_REQUEST):
            chunk = ids[start:start + MANIFEST_IDS_PER_REQUEST]
            manifest = collection.get_manifest(id=chunk, version="all")
            for record in manifest.get("objects") or []:
                added = record.get("date_added")
                if isinstance(added, str) and (newest is None or taxii_to_us(added) > taxii_to_us(newest)):
                    newest = added
        return newest

    def post(self, collection: Collection, envelope: bytes) -> dict:
        status = collection.add_objects(envelope, wait_for_completion=False)
        return {"success_count": status.success_count, "failure_count": status.failure_count,
                "failures": status.failures or []}
