"""POST (add objects, through the one ingest path) and DELETE (remove from one feed)."""
from __future__ import annotations

from flask import request

from .. import wire
from ..appctx import current_node
from ..config import Feed
from ..errors import QalqanError
from ..ingest import ACCEPTED, DUPLICATE, Door
from ..sco import SCO_TYPES
from ..timefmt import now_us, us_to_taxii
from ..verify import HELD_VERSION, Outcome
from . import filters as filters_mod
from . import queries, status
from .access import readable_versions, visible_feed
from .auth import current_caller
from .errors import TaxiiError, json_response, not_found, taxii_response
from .media import check_content_type


def delete_object(collection_id: str, object_id: str):
    """Remove an object's versions from one feed (A3): read and write access needed, and
    only for objects the caller's own node created."""
    feed, peer = visible_feed(collection_id, need="read+write"), current_caller().peer
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
    """Ingest a posted envelope in one transaction and answer 202 with its status."""
    feed = visible_feed(collection_id, need="write")
    check_content_type(request.headers.get("Content-Type"))
    node, peer = current_node(), current_caller().peer
    objects = _posted_objects(int(node.config["server.max_content_length"]))
    received = now_us()
    door = Door.for_peer(peer, node.config.peers.get(peer))
    summary = node.ingest.run(objects, door, batch=len(objects) + 1)
    outcomes, unpublished = [], set()
    for outcome, obj in zip(summary.outcomes, objects):
        if outcome.about_held and not _may_read(node.store, peer, outcome):
            if outcome.status == DUPLICATE:  # rejections are in the audit log already
                node.store.audit("duplicate", outcome.id, outcome.version, peer,
                                 "already held; answered as new: the poster may not read it")
            outcome = _as_if_new(outcome)
            if feed.name not in node.ingest.feeds_for_new(obj, door):
                unpublished.add((outcome.id, outcome.version))
        elif outcome.status == ACCEPTED and not _in_feed(node.store, feed, outcome.id, outcome.version):
            unpublished.add((outcome.id, outcome.version))
        outcomes.append(outcome)
    resource = status.build(outcomes, objects, received, unpublished)
    status.save(node.store, resource, peer)
    return json_response(resource, 202)


def _may_read(store, peer: str, outcome: Outcome) -> bool:
    """May the poster read what the outcome reveals is held: that version, or (the
    creator rule) any version of the object? The one visibility rule decides."""
    versions = readable_versions(store, peer, outcome.id)
    return outcome.version in versions if outcome.about_held == HELD_VERSION else bool(versions)


def _as_if_new(outcome: Outcome) -> Outcome:
    """The answer a new object would get (docs/security.md, "POST status answers"). An
    SCO's version would be the time it is stored, so a held SCO's version is not shown."""
    version = outcome.version
    if outcome.id and outcome.id.split("--", 1)[0] in SCO_TYPES:
        version = us_to_taxii(now_us())
    return Outcome(outcome.id, version, ACCEPTED)


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
