"""Each feed's MISP index (manifest.json and hashes.csv), kept in the database.

A row of `misp_events` per event the feed carries: its manifest record, its
hashes.csv lines, and the TLP levels it shows and leaves out. `misp_index_state`
says how far into the feed's entries (date_added) the rows are, and under which
ceiling they were built. `refresh` brings a feed's rows up to date, touching only
the events concerned:

- entries added since the position: their reports, and the reports referring to them;
- withdrawals (a trigger queues each entry marked deleted): the same;
- a new ceiling: the events showing or leaving out a level between the old and the
  new ceiling, and (ceiling raised) the feed's reports at those levels;
- a card whose name changed: the events of its node.

The first refresh of a feed (after the upgrade that made the tables) builds every
event once; after that a restart costs nothing. Refreshes run in a background
thread (`Keeper`) and write in batches, so a request never waits for a big one: it
serves the last committed rows, and `serve_filter` hides any row that shows a level
above the feed's current ceiling until it is rebuilt.
"""
from __future__ import annotations

import threading
from typing import Iterable, Iterator

from ..config import Feed
from ..logs import get_logger
from ..policy import NEVER_SHARED, TLP_ORDER, TLP_RANK, effective_ceiling, may_carry
from ..store import Store
from .feed import Orgs, carried, hash_lines, level_bit, manifest_record

log = get_logger(__name__)

BATCH = 200  # events written per transaction: a refresh never holds the writer long
ROWS_PER_CHUNK = 2000  # rows read per chunk of a streamed answer
_IN_CHUNK = 500  # values per IN (...), well under SQLite's bound-parameter limit


def _chunks(values: list, size: int) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _report_id(event_uuid: str) -> str:
    return f"report--{event_uuid}"


def _feed_reports(store: Store, feed: Feed, levels: Iterable[str] | None = None) -> set[str]:
    """The feed's current reports, of the given TLP levels (all if None)."""
    sql = "SELECT id FROM feed_entries WHERE feed = ? AND latest = 1 AND deleted = 0 AND type = 'report'"
    params: list = [feed.id]
    if levels is not None:
        levels = list(levels)
        if not levels:
            return set()
        sql += f" AND tlp IN ({', '.join('?' * len(levels))})"
        params += levels
    return {r["id"] for r in store.query(sql, params)}


def _reports_of(store: Store, object_ids: set[str]) -> set[str]:
    """The objects that are reports, and the reports referring to the others."""
    reports = {i for i in object_ids if i.startswith("report--")}
    others = sorted(object_ids - reports)
    for chunk in _chunks(others, _IN_CHUNK):
        reports.update(r["report"] for r in store.query(
            f"SELECT report FROM report_refs WHERE ref IN ({', '.join('?' * len(chunk))})", chunk))
    return reports


def _added_since(store: Store, feed: Feed, position: int, newest: int) -> set[str]:
    """Ids of the feed's entries added after `position`, up to `newest`."""
    rows = store.query("SELECT id FROM feed_entries INDEXED BY feed_all WHERE feed = ? AND deleted = 0"
                       " AND date_added > ? AND date_added <= ?", [feed.id, position, newest])
    return {r["id"] for r in rows}


def _band(old: str, new: str) -> list[str]:
    """The shareable levels one ceiling carries and the other does not."""
    low, high = sorted((TLP_RANK[old], TLP_RANK[new]))
    return [level for level in TLP_ORDER[low + 1:high + 1] if level not in NEVER_SHARED]


def _ceiling_changed(store: Store, feed: Feed, old: str, new: str) -> set[str]:
    """Reports whose event a move of the ceiling from `old` to `new` changes."""
    band = _band(old, new)
    mask = sum(level_bit(level) for level in band)
    reports = {_report_id(r["uuid"]) for r in store.query(
        "SELECT uuid FROM misp_events WHERE feed = ? AND (shown | hidden) & ? != 0", [feed.id, mask])}
    if TLP_RANK[new] > TLP_RANK[old]:
        reports |= _feed_reports(store, feed, band)
    return reports


def _renamed(store: Store, feed: Feed) -> set[str]:
    """Reports whose event shows a name other than its creator's card has now (cards are
    few; each is two index seeks)."""
    reports = set()
    for card in store.query("SELECT identity, COALESCE(name, '') AS name FROM cards"):
        reports.update(_report_id(r["uuid"]) for r in store.query(
            "SELECT uuid FROM misp_events WHERE feed = ? AND org = ? AND org_name < ?"
            " UNION ALL SELECT uuid FROM misp_events WHERE feed = ? AND org = ? AND org_name > ?",
            [feed.id, card["identity"], card["name"]] * 2))
    return reports


def _write(store: Store, feed: Feed, report_ids: list[str]) -> None:
    """Recompute the events of these reports (built before the write transaction)."""
    orgs = Orgs(store)
    built = [(report_id, carried(store, feed, report_id, orgs)) for report_id in report_ids]
    with store.transaction() as db:
        for report_id, found in built:
            event_uuid = report_id.split("--", 1)[1]
            if found is None:
                db.execute("DELETE FROM misp_events WHERE feed = ? AND uuid = ?", [feed.id, event_uuid])
            else:
                db.execute("INSERT OR REPLACE INTO misp_events (feed, uuid, shown, hidden, org, org_name,"
                           " manifest, hashes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           [feed.id, event_uuid, found.shown, found.hidden, found.org, found.org_name,
                            manifest_record(found.view), hash_lines(found.view)])


def refresh(store: Store, feed: Feed) -> int:
    """Bring the feed's index up to date; returns how many events it recomputed."""
    ceiling = effective_ceiling(feed.max_tlp)
    state = store.one("SELECT position, ceiling FROM misp_index_state WHERE feed = ?", [feed.id])
    newest = store.one("SELECT MAX(date_added) AS n FROM feed_entries WHERE feed = ?", [feed.id])["n"] or 0
    withdrawn = store.query("SELECT n, id FROM misp_withdrawals WHERE feed = ?", [feed.id])
    if state is None:
        todo = _feed_reports(store, feed)
        with store.transaction() as db:  # leftovers of a first build cut short
            db.execute("DELETE FROM misp_events WHERE feed = ?", [feed.id])
    else:
        todo = _renamed(store, feed)
        if state["position"] == newest and state["ceiling"] == ceiling and not withdrawn and not todo:
            return 0
        todo |= _reports_of(store, _added_since(store, feed, state["position"], newest)
                            | {r["id"] for r in withdrawn})
        if state["ceiling"] != ceiling:
            todo |= _ceiling_changed(store, feed, state["ceiling"], ceiling)
    for batch in _chunks(sorted(todo), BATCH):
        _write(store, feed, batch)
    with store.transaction() as db:
        db.execute("INSERT OR REPLACE INTO misp_index_state (feed, position, ceiling) VALUES (?, ?, ?)",
                   [feed.id, newest, ceiling])
        if withdrawn:
            db.execute("DELETE FROM misp_withdrawals WHERE feed = ? AND n <= ?",
                       [feed.id, max(r["n"] for r in withdrawn)])
    return len(todo)


def serve_filter(feed: Feed) -> int:
    """The level bits an event may not show under the feed's current ceiling."""
    return sum(level_bit(level) for level in TLP_ORDER if not may_carry(feed.max_tlp, level))


def _rows(store: Store, feed: Feed, columns: str) -> Iterator[list[tuple]]:
    """The served rows, in uuid order, a chunk at a time, all from one snapshot: one
    statement reads one snapshot of the database however long it is stepped."""
    cursor = store.conn.execute(f"SELECT {columns} FROM misp_events WHERE feed = ? AND shown & ? = 0"
                                " ORDER BY uuid", [feed.id, serve_filter(feed)])
    try:
        while rows := cursor.fetchmany(ROWS_PER_CHUNK):
            yield rows
    finally:
        cursor.close()


def manifest_chunks(store: Store, feed: Feed) -> Iterator[str]:
    """manifest.json: {event uuid: manifest record, ...}."""
    yield "{"
    separator = ""
    for rows in _rows(store, feed, "uuid, manifest"):
        yield separator + ",".join(f'"{event_uuid}":{record}' for event_uuid, record in rows)
        separator = ","
    yield "}"


def hashes_chunks(store: Store, feed: Feed) -> Iterator[str]:
    """hashes.csv: one `md5,event uuid` line per attribute value."""
    for rows in _rows(store, feed, "hashes"):
        yield "".join(lines for (lines,) in rows)


def fresh(store: Store, feed: Feed) -> tuple[str, str]:
    """(manifest.json, hashes.csv) built from scratch, in memory: what the kept index must equal."""
    orgs = Orgs(store)
    events = sorted(((found.view.uuid, found) for found in (carried(store, feed, report_id, orgs)
                                                            for report_id in _feed_reports(store, feed)) if found),
                    key=lambda pair: pair[0])
    manifest = "{" + ",".join(f'"{u}":{manifest_record(found.view)}' for u, found in events) + "}"
    return manifest, "".join(hash_lines(found.view) for _, found in events)


class Keeper:
    """Runs each feed's refresh in a background thread, one at a time per feed."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self._lock = threading.Lock()
        self._running: dict[str, threading.Thread] = {}

    def current(self, store: Store, feed: Feed) -> None:
        """Start (or join) the feed's refresh and wait for it at most `wait` seconds;
        whatever it has committed by then is what the caller serves."""
        with self._lock:
            thread = self._running.get(feed.id)
            if thread is None or not thread.is_alive():
                thread = threading.Thread(target=self._refresh, args=(store, feed), daemon=True,
                                          name=f"misp-index-{feed.id}")
                self._running[feed.id] = thread
                thread.start()
        thread.join(self.wait)

    @staticmethod
    def _refresh(store: Store, feed: Feed) -> None:
        try:
            changed = refresh(store, feed)
            if changed:
                log.info("MISP index of feed %s: %d events recomputed", feed.id, changed)
        except Exception:
            log.exception("MISP index of feed %s: refresh failed", feed.id)
        finally:
            store.close()
