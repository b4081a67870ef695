"""`qalqan export`: write a STIX bundle of what this node holds, one page at a time.

A feed's export is what a reader of that feed would get (its TLP ceiling applied); the
default export is this node's own shareable objects with the built-in ones, and
`everything` adds what partners sent. amber+strict and red objects never leave; the
marking-definitions that go with the objects are those they reference (node/markings.py);
objects for one feed profile only (OpenCTI's narrative and channel) leave only in the
export of a feed with that profile.
"""
from __future__ import annotations

import json
import uuid
from typing import IO, Iterator

from .config import Feed
from .markings import MARKING, BundleMarkings
from .policy import NEVER_SHARED, OPENCTI_TYPES, TLP_ORDER, may_carry, profile_of
from .store import Store

PAGE = 1000
# The markings an object references, read by SQLite so the export parses no object.
_COLUMNS = ("o.json, o.type, json_extract(o.json, '$.object_marking_refs') AS marks,"
            " json_extract(o.json, '$.granular_markings') AS granular")


def write_bundle(store: Store, out: IO[str], feed: Feed | None = None, everything: bool = False) -> int:
    """Write a STIX bundle; returns the number of objects."""
    rows = _feed_rows(store, feed) if feed is not None else _for_every_reader(_held_rows(store, everything))
    out.write('{"type":"bundle","id":"bundle--%s","objects":[' % uuid.uuid4())
    markings = BundleMarkings()
    count = 0
    for text in _with_markings(rows, markings, store):
        out.write(("\n" if count == 0 else ",\n") + text)
        count += 1
    out.write("\n]}\n")
    return count


def _with_markings(rows: Iterator[dict], markings: BundleMarkings, store: Store) -> Iterator[str]:
    """The rows' JSON without stored marking-definitions, then the markings they reference."""
    for row in rows:
        if row["type"] != MARKING:
            markings.seen(row["marks"], row["granular"])
            yield row["json"]
    yield from markings.tail(store)


def _feed_rows(store: Store, feed: Feed) -> Iterator[dict]:
    allowed = ", ".join(f"'{t}'" for t in TLP_ORDER if may_carry(feed.max_tlp, t))
    sql = (f"SELECT {_COLUMNS}, e.seq AS k FROM feed_entries e"
           " JOIN objects o ON o.id = e.id AND o.version = e.version"
           f" WHERE e.feed = ? AND e.deleted = 0 AND e.latest = 1 AND e.tlp IN ({allowed})"
           f" AND e.seq > ? ORDER BY e.seq LIMIT {PAGE}")
    return _paged(store, sql, [feed.id])


def _for_every_reader(rows: Iterator[dict]) -> Iterator[dict]:
    """Rows of no feed profile. Only an object that names a profile type's id can be of
    one, so the others are not parsed."""
    markers = tuple(f'"{t}--' for t in OPENCTI_TYPES) + tuple(f'"type":"{t}"' for t in OPENCTI_TYPES)
    for row in rows:
        if not any(m in row["json"] for m in markers) or profile_of(json.loads(row["json"])) is None:
            yield row


def _held_rows(store: Store, everything: bool) -> Iterator[dict]:
    where = "o.latest = 1" if everything else "o.latest = 1 AND o.origin IN ('own', 'builtin')"
    restricted = ", ".join(f"'{t}'" for t in NEVER_SHARED)
    sql = (f"SELECT {_COLUMNS}, o.rowid AS k FROM objects o WHERE {where} AND o.tlp NOT IN ({restricted})"
           f" AND o.rowid > ? ORDER BY o.rowid LIMIT {PAGE}")
    return _paged(store, sql, [])


def _paged(store: Store, sql: str, params: list) -> Iterator[dict]:
    """Rows of `sql` in pages keyed on its column `k` (its last parameter is the key
    to start after), so an export holds one page at a time."""
    last = -1
    while True:
        rows = store.query(sql, [*params, last])
        yield from rows
        if len(rows) < PAGE:
            return
        last = rows[-1]["k"]
