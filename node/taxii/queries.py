"""Reading and removing feed entries: every page is a bounded index range.

A page walks one index of `feed_entries` in date_added order from a position, so its
cost does not grow with the feed. Filters the index cannot answer (type, TLP ceiling,
spec_version, explicit versions) are checked on the rows read; the walk stops after
SCAN_BUDGET rows, and then answers `more: true` with a position past what it has seen
(an empty page with `more` is legal, checklist F5). A page of objects also ends early,
with `more: true`, before it would pass taxii.max_page_bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config import Feed
from ..policy import may_carry
from ..store import Store
from ..timefmt import is_stix_timestamp, version_key
from .filters import Filters

SCAN_BUDGET = 10_000
_CHUNK = 1000
_COLUMNS = "e.date_added, e.id, e.version, e.type, e.spec_version, e.tlp, e.latest, e.first"


@dataclass
class Page:
    entries: list[dict]
    more: bool
    position: int | None  # date_added the next page starts after; None: nothing read or given


def read_page(store: Store, feed: Feed, filters: Filters, after: int | None, object_id: str | None = None,
              with_json: bool = False, max_bytes: int | None = None) -> Page:
    """With `max_bytes` (and `with_json`), a page whose objects would pass that many
    bytes ends before the object that would pass it, with `more`; it always holds at
    least one object, so paging moves on whatever is stored."""
    sql, params = _page_sql(feed.id, filters, object_id, with_json)
    keep = _row_filter(feed, filters)
    need = filters.limit
    position = after if after is not None else -1
    entries: list[dict] = []
    scanned, chunk, size = 0, need + 1, 0
    while True:
        rows = store.query(sql, [*params, position, chunk])
        for row in rows:
            scanned += 1
            if keep(row):
                if len(entries) == need:
                    return Page(entries, True, entries[-1]["date_added"])
                if max_bytes is not None and with_json:
                    size += len(row["json"].encode("utf-8")) + 1  # and its comma
                    if entries and size > max_bytes:
                        return Page(entries, True, entries[-1]["date_added"])
                entries.append(row)
            position = row["date_added"]
        if len(rows) < chunk:
            return Page(entries, False, _or_none(position))
        if scanned >= SCAN_BUDGET:
            return Page(entries, True, position)
        chunk = min(_CHUNK, SCAN_BUDGET - scanned) + 1


def _or_none(position: int) -> int | None:
    return None if position < 0 else position


def _page_sql(feed_id: str, filters: Filters, object_id: str | None, with_json: bool) -> tuple[str, list]:
    ids = (object_id,) if object_id else filters.ids
    params: list = [feed_id]
    if ids:
        index, where = "feed_object", f"e.id IN ({', '.join('?' * len(ids))}) AND e.deleted = 0"
        params.extend(ids)
    elif filters.versions == {"last"}:
        index, where = "feed_latest", "e.deleted = 0 AND e.latest = 1"
    elif filters.versions == {"first"}:
        index, where = "feed_first", "e.deleted = 0 AND e.first = 1"
    else:
        index, where = "feed_all", "e.deleted = 0"
    columns = _COLUMNS + (", o.json" if with_json else "")
    join = " JOIN objects o ON o.id = e.id AND o.version = e.version" if with_json else ""
    sql = (f"SELECT {columns} FROM feed_entries e INDEXED BY {index}{join}"
           f" WHERE e.feed = ? AND {where} AND e.date_added > ? ORDER BY e.date_added LIMIT ?")
    return sql, params


def _row_filter(feed: Feed, filters: Filters):
    types, specs, versions = filters.types, filters.spec_versions, filters.versions

    def keep(row: dict) -> bool:
        return (may_carry(feed.max_tlp, row["tlp"])
                and (not types or row["type"] in types)
                and (not specs or row["spec_version"] in specs)
                and version_matches(row, versions))
    return keep


def version_matches(row: dict, versions: frozenset[str]) -> bool:
    return ("all" in versions
            or ("last" in versions and row["latest"] == 1)
            or ("first" in versions and row["first"] == 1)
            or row["version"] in versions)


def visible_entries(store: Store, feed: Feed, object_id: str) -> list[dict]:
    """All versions of an object a reader of `feed` may see there."""
    rows = store.query(f"SELECT e.seq, {_COLUMNS} FROM feed_entries e INDEXED BY feed_object"
                       " WHERE e.feed = ? AND e.id = ? AND e.deleted = 0 ORDER BY e.date_added", [feed.id, object_id])
    return [r for r in rows if may_carry(feed.max_tlp, r["tlp"])]


def creator_of(store: Store, object_id: str) -> str | None:
    """The creator every stored version of the object names; None if there is no
    version, one names no creator, or the versions disagree."""
    rows = store.query("SELECT DISTINCT created_by FROM objects WHERE id = ?", [object_id])
    return rows[0]["created_by"] if len(rows) == 1 else None


_STAMP_CHUNK = 400  # (id, version) pairs per query, well under SQLite's bound-parameter limit


def add_stamps(store: Store, entries: list[dict]) -> None:
    """Set each entry's `stamp`: the object's own `modified` (else `created`) string, as
    the manifest and version lists report it (spec 3.6.4), rather than the normalised
    version key. SCOs have no timestamps and keep their stored version."""
    found: dict[tuple[str, str], str] = {}
    for start in range(0, len(entries), _STAMP_CHUNK):
        chunk = entries[start:start + _STAMP_CHUNK]
        pairs = ", ".join("(?, ?)" for _ in chunk)
        rows = store.query(
            f"WITH k(id, version) AS (VALUES {pairs})"
            " SELECT o.id, o.version, COALESCE(json_extract(o.json, '$.modified'), json_extract(o.json, '$.created'))"
            " AS stamp FROM k JOIN objects o ON o.id = k.id AND o.version = k.version",
            [value for e in chunk for value in (e["id"], e["version"])])
        for row in rows:
            stamp = row["stamp"]
            # Only a timestamp that is this very version (an SCO's `created`, if any, is not).
            if isinstance(stamp, str) and is_stix_timestamp(stamp) and version_key(stamp) == row["version"]:
                found[(row["id"], row["version"])] = stamp
    for entry in entries:
        entry["stamp"] = found.get((entry["id"], entry["version"]), entry["version"])


def remove_entries(store: Store, feed: Feed, object_id: str, chosen: list[dict]) -> None:
    """Mark versions deleted in one feed (the objects stay in the store and in other
    feeds), then move the first/latest flags onto the versions that remain."""
    with store.transaction() as db:
        seqs = [r["seq"] for r in chosen]
        db.execute(f"UPDATE feed_entries SET deleted = 1, latest = 0, first = 0 WHERE seq IN "
                   f"({', '.join('?' * len(seqs))})", seqs)
        remaining = db.execute("SELECT seq, version FROM feed_entries WHERE feed = ? AND id = ? AND deleted = 0",
                               [feed.id, object_id]).fetchall()
        if not remaining:
            return
        newest = max(remaining, key=lambda r: r[1])[0]
        oldest = min(remaining, key=lambda r: r[1])[0]
        for seq, _version in remaining:
            db.execute("UPDATE feed_entries SET latest = ?, first = ? WHERE seq = ?",
                       [int(seq == newest), int(seq == oldest), seq])
