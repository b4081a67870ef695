"""/misp/<feed id>/: each TAXII feed as a native MISP feed (node/misp/feed.py).

The same callers and the same rule as the feed's TAXII collection: HTTP Basic (peer
name and token), `Authorization: Token …` or `Bearer …`, anonymous for public feeds
(node/taxii/auth.py), and node/taxii/access.py's `visible_feed`; a refusal is the
answer TAXII gives (401 with its challenge, or 404), in TAXII's error form.
"""
from __future__ import annotations

import re

from flask import Blueprint, Response, current_app

from ..appctx import current_node
from ..logs import get_logger
from ..taxii.access import visible_feed
from ..taxii.errors import TITLES, TaxiiError, error_response, not_found
from . import feed as misp_feed
from . import index as misp_index

log = get_logger(__name__)

blueprint = Blueprint("misp", __name__)
EVENT_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# How long a request waits for its feed's index to catch up before it serves what the
# index holds: what arrived since the last request takes milliseconds, but the first
# update in a process also imports pymisp (over a second, several on a busy machine);
# a first build after an upgrade, or a big ceiling change, goes on in the background.
REFRESH_WAIT = 10.0


@blueprint.errorhandler(TaxiiError)
def _refused(exc: TaxiiError):
    log.info("MISP feed GET refused %d %s: %s", exc.status, TITLES.get(exc.status, "Error"), exc.description)
    return error_response(exc.status, exc.description, exc.headers)


@blueprint.after_request
def _headers(response):
    response.headers["Vary"] = "Authorization"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _current(feed):
    """The feed's index brought up to date (or as far as REFRESH_WAIT allows)."""
    store = current_node().store
    current_app.extensions.setdefault("qalqan_misp_index", misp_index.Keeper(REFRESH_WAIT)).current(store, feed)
    return store


@blueprint.route("/misp/<feed_id>/manifest.json")
def manifest(feed_id: str):
    feed = visible_feed(feed_id, need="read")
    return Response(misp_index.manifest_chunks(_current(feed), feed), mimetype="application/json")


@blueprint.route("/misp/<feed_id>/hashes.csv")
def hashes(feed_id: str):
    feed = visible_feed(feed_id, need="read")
    return Response(misp_index.hashes_chunks(_current(feed), feed), mimetype="text/csv")


@blueprint.route("/misp/<feed_id>/<event_uuid>.json")
def event(feed_id: str, event_uuid: str):
    feed = visible_feed(feed_id, need="read")
    body = misp_feed.event(current_node().store, feed, event_uuid) if EVENT_UUID_RE.match(event_uuid) else None
    if body is None:
        raise not_found()
    return Response(body, mimetype="application/json")
