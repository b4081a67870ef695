"""Which marking-definitions go with a set of objects: the one rule of every export and feed.

A marking-definition travels only beside an object that references it (in
`object_marking_refs` or a granular marking), and never one for a TLP level that is
never shared (amber+strict, red). So a consumer that turns every marking it receives
into a tag (misp-stix does) tags what it got with the true TLP and nothing else.

Feeds: a marking-definition never enters a feed by itself (not when the node seeds its
feeds, not when a partner sends one); `publish` puts it in with the first object there
that references it, just before that object. Exports (`qalqan export`, the incident
bundle of the UI) leave stored marking-definitions out of the stream and append the
referenced ones with `bundle_tail`.
"""
from __future__ import annotations

import json
from typing import Iterable

from .policy import NEVER_SHARED
from .store import Store
from .wellknown import TLP_OF_MARKING

MARKING = "marking-definition"


def is_marking(kind: str | None) -> bool:
    return kind == MARKING


def may_travel(marking_id: str) -> bool:
    """False for the TLP markings of levels that never leave the node."""
    return TLP_OF_MARKING.get(marking_id) not in NEVER_SHARED


def references(obj: dict) -> list[str]:
    """The marking-definition ids an object references, in order, once each."""
    found: list[str] = []
    refs = obj.get("object_marking_refs")
    if isinstance(refs, list):
        found += [r for r in refs if isinstance(r, str)]
    granular = obj.get("granular_markings")
    if isinstance(granular, list):
        found += [g["marking_ref"] for g in granular if isinstance(g, dict) and isinstance(g.get("marking_ref"), str)]
    return [r for r in dict.fromkeys(found) if r.startswith(MARKING + "--")]


def travelling(marking_ids: Iterable[str]) -> list[str]:
    """Those of `marking_ids` that may go with the objects that reference them."""
    return [m for m in dict.fromkeys(marking_ids) if may_travel(m)]


def stored_rows(store: Store, marking_ids: Iterable[str]) -> list[dict]:
    """The latest stored version of each travelling marking (those the node holds)."""
    ids = travelling(marking_ids)
    if not ids:
        return []
    rows = store.query("SELECT id, version, type, spec_version, tlp, origin, json FROM objects"
                       f" WHERE latest = 1 AND type = '{MARKING}' AND id IN ({', '.join('?' * len(ids))})", ids)
    order = {mid: i for i, mid in enumerate(ids)}
    return sorted(rows, key=lambda r: order[r["id"]])


def publish(store: Store, feed_id: str, row: dict, obj: dict, new_object: bool = False) -> None:
    """Put one stored version in a feed with the markings it references (before it);
    a marking-definition itself enters only that way."""
    if is_marking(row["type"]):
        return
    for marking in stored_rows(store, references(obj)):
        store.add_to_feed(feed_id, marking)
    store.add_to_feed(feed_id, row, new_object=new_object)


class BundleMarkings:
    """Collects what the objects of an export reference; `tail` is the markings to append.

    `seen` takes an object's `object_marking_refs` and `granular_markings` as stored JSON
    text (or None), so a large export parses only those, and each distinct text once."""

    def __init__(self) -> None:
        self._texts: set[tuple[str | None, str | None]] = set()
        self._ids: set[str] = set()

    def seen(self, marking_refs: str | None, granular: str | None = None) -> None:
        self._texts.add((marking_refs, granular))

    def seen_object(self, obj: dict) -> None:
        self._ids.update(references(obj))

    def referenced(self) -> list[str]:
        ids = set(self._ids)
        for refs, granular in self._texts:
            ids.update(references({"object_marking_refs": json.loads(refs) if refs else None,
                                   "granular_markings": json.loads(granular) if granular else None}))
        return sorted(ids)

    def tail(self, store: Store) -> list[str]:
        """Stored JSON of the referenced markings that may travel."""
        return [r["json"] for r in stored_rows(store, self.referenced())]
