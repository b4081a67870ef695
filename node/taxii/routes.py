"""The TAXII 2.1 endpoints (checklist E1-E11) at /taxii2/ with one API root, /taxii2/api/.

Collections are the node's feeds; what a caller may see and do is decided by the feed
files (readers, writers) and, on the way out, by the TLP ceiling of each feed.
"""
from __future__ import annotations

import json
import logging
from functools import wraps

from flask import Blueprint, current_app, request
from werkzeug.exceptions import HTTPException

from .. import wire
from ..app import current_node
from ..config import Feed
from ..errors import QalqanError
from ..ingest import ACCEPTED, EXTERNAL, PEER, Door
from ..timefmt import now_us, us_to_taxii
from . import filters as filters_mod
from . import paging, queries, status
from .auth import Caller, current_caller
from .errors import (MEDIA_TYPE, STIX_MEDIA_TYPE, TaxiiError, error_response, json_response, not_found,
                     taxii_response, unauthorized)
from .media import check_accept, check_content_type

log = logging.getLogger(__name__)

blueprint = Blueprint("taxii", __name__)
ROOT = "/taxii2/"
API_ROOT = "/taxii2/api/"
COLLECTIONS = API_ROOT + "collections/"
_EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def endpoint(rule: str, methods: tuple[str, ...] = ("GET",)):
    """Register a view for every method, so a wrong one gets a TAXII 405, not Flask's."""
    allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())

    def register(view):
        @wraps(view)
        def checked(**kwargs):
            if request.method not in allowed:
                raise TaxiiError(405, f"{request.method} is not supported here",
                                 {"Allow": ", ".join(sorted(allowed))})
            check_accept(request.headers.get("Accept"))
            return view(**kwargs)
        # strict_slashes=False: a path missing its final "/" is served, not redirected
        # with an HTML body.
        blueprint.add_url_rule(rule, view.__name__, checked, methods=_EVERY_METHOD,
                               provide_automatic_options=False, strict_slashes=False)
        return view
    return register


# -- errors and headers --------------------------------------------------------

@blueprint.errorhandler(TaxiiError)
def _taxii_error(exc: TaxiiError):
    return error_response(exc.status, exc.description, exc.headers)


@blueprint.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return error_response(exc.code or 500, exc.description or exc.name)


@blueprint.errorhandler(QalqanError)
def _qalqan_error(exc: QalqanError):
    return error_response(exc.http_status, exc.message)


@blueprint.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.exception("TAXII request failed: %s %s", request.method, request.path)
    return error_response(500, "the server failed to answer this request")


@blueprint.after_request
def _taxii_headers(response):
    response.headers["Content-Type"] = MEDIA_TYPE
    response.headers["Vary"] = "Accept, Authorization"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@blueprint.route("/taxii2/<path:rest>", methods=_EVERY_METHOD, provide_automatic_options=False)
def unknown_path(rest: str = ""):
    raise not_found()


# -- who may do what -----------------------------------------------------------

def _feed(collection_id: str) -> Feed | None:
    for feed in current_node().config.feeds.values():
        if feed.id == collection_id:
            return feed
    return None


def readable_feed(collection_id: str) -> Feed:
    feed, caller = _feed(collection_id), current_caller()
    peer = caller.peer
    if feed is None or not (feed.may_read(peer) or feed.may_write(peer)):
        raise unauthorized() if caller.anonymous else not_found()
    if not feed.may_read(peer):
        raise TaxiiError(403, "you may not read this collection")
    return feed


def writable_feed(collection_id: str) -> Feed:
    feed, caller = _feed(collection_id), current_caller()
    if caller.anonymous:
        raise unauthorized()
    if feed is None or not (feed.may_read(caller.peer) or feed.may_write(caller.peer)):
        raise not_found()
    if not feed.may_write(caller.peer):
        raise TaxiiError(403, "you may not write to this collection")
    return feed


def collection_resource(feed: Feed, caller: Caller) -> dict:
    return {"id": feed.id, "title": feed.title, "description": feed.description,
            "can_read": feed.may_read(caller.peer), "can_write": feed.may_write(caller.peer),
            "media_types": [STIX_MEDIA_TYPE]}


# -- discovery, API root, collections ------------------------------------------

@endpoint(ROOT)
def discovery():
    current_caller()  # wrong credentials are refused even here
    config = current_node().config
    return json_response({
        "title": f"Qalqan node {config.name} ({config['node.country']})",
        "description": "Disinformation incidents as signed STIX 2.1 objects.",
        "default": API_ROOT,
        "api_roots": [API_ROOT],
    })


@endpoint(API_ROOT)
def api_root():
    current_caller()
    config = current_node().config
    return json_response({
        "title": f"Qalqan feeds of {config.name}",
        "description": "Each collection is one feed of this node.",
        "versions": [MEDIA_TYPE],
        "max_content_length": int(config["server.max_content_length"]),
    })


@endpoint(API_ROOT + "status/<status_id>/")
def get_status(status_id: str):
    caller = current_caller()
    if caller.anonymous:
        raise unauthorized()
    text = status.load(current_node().store, status_id, caller.peer)
    if text is None:
        raise not_found()
    return taxii_response(text)


@endpoint(COLLECTIONS)
def list_collections():
    caller = current_caller()
    feeds = sorted(current_node().config.feeds.values(), key=lambda f: f.name)
    visible = [collection_resource(f, caller) for f in feeds if f.may_read(caller.peer) or f.may_write(caller.peer)]
    return json_response({"collections": visible} if visible else {})


@endpoint(COLLECTIONS + "<collection_id>/")
def get_collection(collection_id: str):
    feed, caller = _feed(collection_id), current_caller()
    if feed is None or not (feed.may_read(caller.peer) or feed.may_write(caller.peer)):
        raise unauthorized() if caller.anonymous else not_found()
    return json_response(collection_resource(feed, caller))


# -- paged reads ---------------------------------------------------------------

def _read(feed: Feed, filters, endpoint_name: str, object_id: str | None = None, with_json: bool = False):
    """One page and the headers and `next` token that go with it."""
    secret = current_app.config["SECRET_KEY"]
    secret = secret if isinstance(secret, bytes) else str(secret).encode()
    scope = paging.scope_of(endpoint_name, feed.id, object_id, filters.raw, current_caller().binding)
    after = filters.added_after
    if filters.next is not None:
        after = paging.read_token(secret, filters.next, scope)
    page = queries.read_page(current_node().store, feed, filters, after, object_id, with_json)
    token = paging.make_token(secret, page.position, scope) if page.more else None
    return page, token, _date_headers(page, after)


def _date_headers(page: queries.Page, after: int | None) -> dict:
    if page.entries:
        first, last = page.entries[0]["date_added"], page.entries[-1]["date_added"]
    else:
        # An empty page names the position reached, so added_after paging can go on from it.
        first = last = page.position if page.position is not None else (after or 0)
    return {"X-TAXII-Date-Added-First": us_to_taxii(first), "X-TAXII-Date-Added-Last": us_to_taxii(last)}


def _paging_fields(page: queries.Page, token: str | None) -> str:
    if page.more:
        return '"more":true,"next":' + json.dumps(token)
    return '"more":false'


def _envelope(page: queries.Page, token: str | None) -> str:
    if not page.entries and not page.more:
        return "{}"
    body = "{" + _paging_fields(page, token)
    if page.entries:
        # Stored canonical bytes are served verbatim: signatures stay valid.
        body += ',"objects":[' + ",".join(e["json"] for e in page.entries) + "]"
    return body + "}"


def _manifest(page: queries.Page, token: str | None) -> str:
    if not page.entries and not page.more:
        return "{}"
    records = [{"id": e["id"], "date_added": us_to_taxii(e["date_added"]), "version": e["version"],
                "media_type": STIX_MEDIA_TYPE} for e in page.entries]
    body = "{" + _paging_fields(page, token)
    if records:
        body += ',"objects":' + json.dumps(records, separators=(",", ":"))
    return body + "}"


def _versions(page: queries.Page, token: str | None) -> str:
    if not page.entries and not page.more:
        return "{}"
    body = "{" + _paging_fields(page, token)
    if page.entries:
        body += ',"versions":' + json.dumps([e["version"] for e in page.entries])
    return body + "}"


def _is_first_request(filters) -> bool:
    return filters.next is None and filters.added_after is None


@endpoint(COLLECTIONS + "<collection_id>/manifest/")
def get_manifest(collection_id: str):
    feed = readable_feed(collection_id)
    filters = filters_mod.parse(request.args, filters_mod.LIST_FILTERS)
    page, token, headers = _read(feed, filters, "manifest")
    return taxii_response(_manifest(page, token), 200, headers)


@endpoint(COLLECTIONS + "<collection_id>/objects/", methods=("GET", "POST"))
def objects(collection_id: str):
    if request.method == "POST":
        return add_objects(collection_id)
    feed = readable_feed(collection_id)
    filters = filters_mod.parse(request.args, filters_mod.LIST_FILTERS)
    page, token, headers = _read(feed, filters, "objects", with_json=True)
    return taxii_response(_envelope(page, token), 200, headers)


@endpoint(COLLECTIONS + "<collection_id>/objects/<object_id>/", methods=("GET", "DELETE"))
def one_object(collection_id: str, object_id: str):
    if request.method == "DELETE":
        return delete_object(collection_id, object_id)
    feed = readable_feed(collection_id)
    filters = filters_mod.parse(request.args, filters_mod.OBJECT_FILTERS)
    page, token, headers = _read(feed, filters, "object", object_id, with_json=True)
    if not page.entries and _is_first_request(filters):
        raise not_found()
    return taxii_response(_envelope(page, token), 200, headers)


@endpoint(COLLECTIONS + "<collection_id>/objects/<object_id>/versions/")
def object_versions(collection_id: str, object_id: str):
    feed = readable_feed(collection_id)
    filters = filters_mod.parse(request.args, filters_mod.VERSIONS_FILTERS, default_version="all")
    page, token, headers = _read(feed, filters, "versions", object_id)
    if not page.entries and _is_first_request(filters):
        raise not_found()
    return taxii_response(_versions(page, token), 200, headers)


# -- writes --------------------------------------------------------------------

def delete_object(collection_id: str, object_id: str):
    caller = current_caller()
    if caller.anonymous:
        raise unauthorized()
    feed, peer = _feed(collection_id), caller.peer
    may_read, may_write = (feed.may_read(peer), feed.may_write(peer)) if feed else (False, False)
    if not (may_read or may_write):
        raise not_found()
    if not (may_read and may_write):
        raise TaxiiError(403, "removing objects needs both read and write access to the collection")
    filters = filters_mod.parse(request.args, filters_mod.OBJECT_FILTERS, default_version="all")
    node = current_node()
    chosen = [e for e in queries.visible_entries(node.store, feed, object_id)
              if queries.version_matches(e, filters.versions)
              and (not filters.spec_versions or e["spec_version"] in filters.spec_versions)]
    if not chosen:
        raise not_found()
    own_identity = node.peer_identity(peer)
    if own_identity is None or queries.creator_of(node.store, object_id) != own_identity:
        raise TaxiiError(403, "a peer may remove only objects its own node created")
    queries.remove_entries(node.store, feed, object_id, chosen)
    return taxii_response("", 200)


def add_objects(collection_id: str):
    feed = writable_feed(collection_id)
    check_content_type(request.headers.get("Content-Type"))
    node, peer = current_node(), current_caller().peer
    objects = _posted_objects(int(node.config["server.max_content_length"]))
    received = now_us()
    entry = node.config.peers.get(peer)
    door = Door(EXTERNAL if entry is not None and not entry.signed else PEER, source=peer)
    summary = node.ingest.run(objects, door, batch=len(objects) + 1)
    unpublished = {(o.id, o.version) for o in summary.outcomes
                   if o.status == ACCEPTED and not _in_feed(node.store, feed, o.id, o.version)}
    resource = status.build(summary, objects, received, unpublished)
    status.save(node.store, resource, peer)
    return json_response(resource, 202)


def _posted_objects(max_length: int) -> list:
    if request.content_length is not None and request.content_length > max_length:
        raise TaxiiError(413, f"the body is larger than max_content_length ({max_length} bytes)")
    body = request.get_data(cache=False)
    if len(body) > max_length:
        raise TaxiiError(413, f"the body is larger than max_content_length ({max_length} bytes)")
    try:
        document = wire.loads(body)
    except QalqanError as exc:
        raise TaxiiError(400, exc.message) from None
    if not isinstance(document, dict) or not isinstance(document.get("objects"), list):
        raise TaxiiError(422, "the body must be a TAXII envelope: an object with an 'objects' list")
    objects = document["objects"]
    if not objects:
        raise TaxiiError(422, "the envelope's 'objects' list is empty")
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise TaxiiError(422, f"objects[{index}] is not a JSON object")
    return objects


def _in_feed(store, feed: Feed, object_id: str | None, version: str | None) -> bool:
    return store.one("SELECT 1 AS x FROM feed_entries WHERE feed = ? AND id = ? AND version = ? AND deleted = 0",
                     [feed.id, object_id, version]) is not None
