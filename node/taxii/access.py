"""Which feeds a caller may see, read and write (collections = feeds, A1-A3, A6).

A collection the caller may neither read nor write answers like an unknown one: 404, or
401 for an anonymous caller, who may always retry with credentials.
"""
from __future__ import annotations

from ..appctx import current_node
from ..config import Feed
from . import queries
from .auth import Caller, current_caller
from .errors import STIX_MEDIA_TYPE, TaxiiError, not_found, unauthorized


def feed_by_id(collection_id: str) -> Feed | None:
    for feed in current_node().config.feeds.values():
        if feed.id == collection_id:
            return feed
    return None


def sees(feed: Feed, caller: Caller) -> bool:
    """A caller sees a collection it may read or write; any other answers as unknown."""
    return feed.may_read(caller.peer) or feed.may_write(caller.peer)


NEEDS = {
    "any": (False, False),   # seeing the collection is enough
    "read": (True, False),
    "write": (False, True),
    "read+write": (True, True),
}
REFUSALS = {
    "read": "you may not read this collection",
    "write": "you may not write to this collection",
    "read+write": "removing objects needs both read and write access to the collection",
}


def visible_feed(collection_id: str, need: str = "read") -> Feed:
    """The one feed-visibility rule of every TAXII route (A1-A3, A6).

    A collection the caller cannot see answers like an unknown one: 404, or 401 for an
    anonymous caller, who may retry with credentials. Writing always needs credentials.
    A visible collection without the access `need`ed is a 403."""
    must_read, must_write = NEEDS[need]
    feed, caller = feed_by_id(collection_id), current_caller()
    if must_write and caller.anonymous:
        raise unauthorized()
    if feed is None or not sees(feed, caller):
        raise unauthorized() if caller.anonymous else not_found()
    if (must_read and not feed.may_read(caller.peer)) or (must_write and not feed.may_write(caller.peer)):
        raise TaxiiError(403, REFUSALS[need])
    return feed


def readable_versions(store, peer: str | None, object_id: str | None) -> set[str]:
    """The versions of an object `peer` may read in some collection: what TAXII may
    reveal to it about that object (writes.py answers about anything else as unheld)."""
    if object_id is None:
        return set()
    feeds = [f for f in current_node().config.feeds.values() if f.may_read(peer)]
    return {e["version"] for f in feeds for e in queries.visible_entries(store, f, object_id)}


def collection_resource(feed: Feed, caller: Caller) -> dict:
    # The alias is the feed's name, so a partner can configure `--pull bilateral`
    # instead of copying a UUID (sync/client.py looks collections up by id, title or alias).
    return {"id": feed.id, "title": feed.title, "description": feed.description, "alias": feed.name,
            "can_read": feed.may_read(caller.peer), "can_write": feed.may_write(caller.peer),
            "media_types": [STIX_MEDIA_TYPE]}
