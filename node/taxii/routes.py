"""The TAXII 2.1 endpoints (checklist E1-E11) at /taxii2/ with one API root, /taxii2/api/.

Collections are the node's feeds; what a caller may see and do is decided by the feed
files (readers, writers) and, on the way out, by the TLP ceiling of each feed.
"""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter

from ..appctx import current_node
from ..config import Feed
from ..errors import QalqanError
from ..logs import get_logger
from . import filters as filters_mod
from . import paging, queries, resources, status, writes
from .access import collection_resource, sees, visible_feed
from .auth import current_caller
from .errors import (MEDIA_TYPE, TITLES, TaxiiError, error_response, json_response, not_found, taxii_response,
                     unauthorized)
from .media import check_accept

log = get_logger(__name__)

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

def _log_refusal(status: int, description: str) -> None:
    # The path only: a query string may carry a paging token. Descriptions are ours and
    # name no credential.
    log.info("TAXII %s %s refused %d %s: %s", request.method, request.path, status,
             TITLES.get(status, "Error"), description)


@blueprint.errorhandler(TaxiiError)
def _taxii_error(exc: TaxiiError):
    _log_refusal(exc.status, exc.description)
    return error_response(exc.status, exc.description, exc.headers)


@blueprint.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    _log_refusal(exc.code or 500, exc.description or exc.name)
    return error_response(exc.code or 500, exc.description or exc.name)


@blueprint.errorhandler(QalqanError)
def _qalqan_error(exc: QalqanError):
    log.warning("TAXII %s %s answered %d: %s", request.method, request.path, exc.http_status, exc.message)
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


class _AnyPath(PathConverter):
    """Any rest of a path. Werkzeug's `path` stops at a line break (its `.` is not DOTALL),
    so /taxii2/x%0A would escape this blueprint and get Flask's HTML 404."""

    regex = "(?s:[^/].*?)"


blueprint.record_once(lambda state: state.app.url_map.converters.setdefault("any_path", _AnyPath))


@blueprint.route("/taxii2/<any_path:rest>", methods=_EVERY_METHOD, provide_automatic_options=False)
def unknown_path(rest: str = ""):
    raise not_found()


# -- discovery, API root, collections ------------------------------------------

@endpoint(ROOT)
def discovery():
    current_caller()  # wrong credentials are refused even here
    config = current_node().config
    return json_response({
        "title": f"Qalqan node {config.name} ({config['node.country']})",
        "description": f"Disinformation incidents as signed STIX 2.1 objects, by {current_node().organisation()}.",
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
        # TAXII 2.1 custom properties (a-z0-9_, "x_" first): the page and object caps.
        "x_qalqan_max_page_bytes": int(config["taxii.max_page_bytes"]),
        "x_qalqan_max_object_bytes": int(config["taxii.max_object_bytes"]),
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
    visible = [collection_resource(f, caller) for f in feeds if sees(f, caller)]
    return json_response({"collections": visible} if visible else {})


@endpoint(COLLECTIONS + "<collection_id>/")
def get_collection(collection_id: str):
    feed = visible_feed(collection_id, need="any")
    return json_response(collection_resource(feed, current_caller()))


# -- paged reads ---------------------------------------------------------------

def _read(feed: Feed, filters, endpoint_name: str, object_id: str | None = None, with_json: bool = False):
    """One page and the headers and `next` token that go with it."""
    secret = current_app.config["SECRET_KEY"]
    secret = secret if isinstance(secret, bytes) else str(secret).encode()
    scope = paging.scope_of(endpoint_name, feed.id, object_id, filters.raw, current_caller().binding)
    after = filters.added_after
    if filters.next is not None:
        after = paging.start(paging.read_token(secret, filters.next, scope), filters.added_after)
    max_bytes = int(current_node().config["taxii.max_page_bytes"])
    page = queries.read_page(current_node().store, feed, filters, after, object_id, with_json, max_bytes)
    token = paging.make_token(secret, page.position, scope) if page.more else None
    return page, token, resources.date_headers(page, after)


def _is_first_request(filters) -> bool:
    return filters.next is None and filters.added_after is None


@endpoint(COLLECTIONS + "<collection_id>/manifest/")
def get_manifest(collection_id: str):
    feed = visible_feed(collection_id, need="read")
    filters = filters_mod.parse(request.args, filters_mod.LIST_FILTERS)
    page, token, headers = _read(feed, filters, "manifest")
    queries.add_stamps(current_node().store, page.entries)
    return taxii_response(resources.manifest(page, token), 200, headers)


@endpoint(COLLECTIONS + "<collection_id>/objects/", methods=("GET", "POST"))
def objects(collection_id: str):
    if request.method == "POST":
        return writes.add_objects(collection_id)
    feed = visible_feed(collection_id, need="read")
    filters = filters_mod.parse(request.args, filters_mod.LIST_FILTERS)
    page, token, headers = _read(feed, filters, "objects", with_json=True)
    return taxii_response(resources.envelope(page, token), 200, headers)


@endpoint(COLLECTIONS + "<collection_id>/objects/<object_id>/", methods=("GET", "DELETE"))
def one_object(collection_id: str, object_id: str):
    if request.method == "DELETE":
        return writes.delete_object(collection_id, object_id)
    feed = visible_feed(collection_id, need="read")
    filters = filters_mod.parse(request.args, filters_mod.OBJECT_FILTERS)
    page, token, headers = _read(feed, filters, "object", object_id, with_json=True)
    if not page.entries and _is_first_request(filters):
        raise not_found()
    return taxii_response(resources.envelope(page, token), 200, headers)


@endpoint(COLLECTIONS + "<collection_id>/objects/<object_id>/versions/")
def object_versions(collection_id: str, object_id: str):
    feed = visible_feed(collection_id, need="read")
    filters = filters_mod.parse(request.args, filters_mod.VERSIONS_FILTERS, default_version="all")
    page, token, headers = _read(feed, filters, "versions", object_id)
    if not page.entries and _is_first_request(filters):
        raise not_found()
    queries.add_stamps(current_node().store, page.entries)
    return taxii_response(resources.versions(page, token), 200, headers)


