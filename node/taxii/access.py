"""Which feeds a caller may see, read and write (collections = feeds, A1-A3, A6).

A collection the caller may neither read nor write answers like an unknown one: 404, or
401 for an anonymous caller, who may always retry with credentials.
"""
from __future__ import annotations

from ..appctx import current_node
from ..config import Feed
from .auth import Caller, current_caller
from .errors import STIX_MEDIA_TYPE, TaxiiError, not_found, unauthorized


def feed_by_id(collection_id: str) -> Feed | None:
    for feed in current_node().config.feeds.values():
        if feed.id == collection_id:
            return feed
    return None


def readable_feed(collection_id: str) -> Feed:
    feed, caller = feed_by_id(collection_id), current_caller()
    peer = caller.peer
    if feed is None or not (feed.may_read(peer) or feed.may_write(peer)):
        raise unauthorized() if caller.anonymous else not_found()
    if not feed.may_read(peer):
        raise TaxiiError(403, "you may not read this collection")
    return feed


def writable_feed(collection_id: str) -> Feed:
    feed, caller = feed_by_id(collection_id), current_caller()
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
