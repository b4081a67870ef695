"""TAXII 2.1 with one peer, through taxii2-client.

taxii2-client hides response headers and parses JSON leniently, so `PeerConnection`
replaces its GET: strict parsing (duplicate keys, NaN, lone surrogates are refused,
as for every door into the node), a timeout on every request, and the last page's
`X-TAXII-Date-Added-Last` kept for the caller. Paging is done here rather than with
`as_pages`, which loops forever on a server that sends `more` without `next`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator
from urllib.parse import urlsplit

import requests
from taxii2client.common import TokenAuth, _HTTPConnection
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import MEDIA_TYPE_TAXII_V21, ApiRoot, Collection

from .. import wire
from ..config import Peer
from ..errors import PeerError, QalqanError
from ..logs import printable
from ..timefmt import taxii_to_us

DATE_ADDED_LAST = "X-TAXII-Date-Added-Last"
MANIFEST_IDS_PER_REQUEST = 50


class _TimeoutSession(requests.Session):
    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


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
    def __init__(self, secret: str | None, timeout: float):
        super().__init__(version="2.1")
        self.session.close()  # replaced by one that puts a timeout on every request
        self.session = _TimeoutSession(timeout)
        self.session.auth = auth_for(secret)
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
        return f"HTTP {exc.response.status_code} from {exc.response.url}{_taxii_error_title(exc.response)}"
    if isinstance(exc, requests.Timeout):
        return f"no answer within the timeout ({exc.request.url if exc.request else 'request'})"
    if isinstance(exc, requests.ConnectionError):
        return f"cannot connect ({exc.request.url if exc.request else 'peer'})"
    return f"{type(exc).__name__}: {exc}"


def _taxii_error_title(response: requests.Response) -> str:
    """': <title>' of a TAXII error body, if the peer sent one."""
    try:
        body = response.json()
    except ValueError:
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

    def __init__(self, peer: Peer, timeout: float):
        self.peer = peer
        self.conn = PeerConnection(peer.secret(), timeout)
        self._collections: list[Collection] | None = None

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
