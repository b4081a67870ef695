"""The node's SQLite store (WAL), built with sqlite-utils.

Objects are kept as canonical JSON keyed by (id, version), where version is the
object's `modified` (else `created`) normalised to microseconds; SCOs, which have
neither, get the time they were first stored. Feed membership lives in
`feed_entries` with a per-feed strictly increasing `date_added` (microseconds);
TAXII pages and UI lists are index ranges over it. The schema and its upgrades
live in node/migrations.py; opening a Store applies what is pending.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import sqlite_utils

from .errors import StoreBusy
from .migrations import upgrade
from .timefmt import now_us

OWN = "own"  # the origin of objects this node created (ingest.py names the others)


def _private_file(path: Path) -> None:
    """The database holds everything the node knows, wherever `database:` puts it: a folder
    made for it is 0700, the file 0600 (SQLite gives its -wal and -shm files the same mode)."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700)
    # Never open (and so close) an existing database here: closing any descriptor of the
    # file drops every POSIX lock this process holds on it, including those of the
    # connections other threads have open, and another process could then delete the
    # WAL under them (SQLite, "How To Corrupt An SQLite Database File", 2.2).
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)


class Store:
    """One connection per thread to the node's database."""

    def __init__(self, path: Path | str, busy_timeout: float = 30.0):
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        _private_file(Path(self.path))
        with self.transaction() as db:
            upgrade(db, self.path)

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # Reads through a memory map skip a syscall per page: a TAXII page at a million
            # objects costs about what it costs at a thousand (bench/taxii_paging.py).
            conn.execute("PRAGMA mmap_size=2147418112")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            self._local.db = sqlite_utils.Database(conn)
            self._local.depth = 0
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        self.conn
        return self._local.db

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """A write transaction (BEGIN IMMEDIATE); nested uses join the outer one."""
        conn = self.conn
        if self._local.depth:
            self._local.depth += 1
            try:
                yield self._local.db
            finally:
                self._local.depth -= 1
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            raise StoreBusy(f"the database is busy: another writer held it for more than {self.busy_timeout:g} s; "
                            "try again") from None
        self._local.depth = 1
        self._local.last_added = {}
        try:
            yield self._local.db
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            self._local.depth = 0

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def query(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        cur = self.conn.execute(sql, tuple(params))
        cols = [c[0] for c in cur.description or ()]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def one(self, sql: str, params: Iterable = ()) -> dict | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    # -- objects ---------------------------------------------------------------

    def versions_of(self, object_id: str) -> list[dict]:
        return self.query("SELECT version, digest, created_by, latest, origin, tlp FROM objects WHERE id = ?"
                          " ORDER BY version", [object_id])

    def has_version(self, object_id: str, version: str) -> dict | None:
        return self.one("SELECT digest, created_by FROM objects WHERE id = ? AND version = ?", [object_id, version])

    def object_json(self, object_id: str, version: str | None = None) -> str | None:
        if version is None:
            row = self.one("SELECT json FROM objects WHERE id = ? AND latest = 1", [object_id])
        else:
            row = self.one("SELECT json FROM objects WHERE id = ? AND version = ?", [object_id, version])
        return row["json"] if row else None

    def insert_object(self, row: dict, held: list[dict] | None = None) -> None:
        """Insert a new version; `latest` marks the newest of this node's own versions
        if it holds any, else the newest version. An observable's id derives from its
        value, so anyone can send a variant of one this node created (another marking):
        it is kept, but never displaces this node's own copy (docs/security.md, item 5).
        `held` (from versions_of) saves a query when the caller has it."""
        conn = self.conn
        if held is None:
            held = self.versions_of(row["id"])
        every = [*held, row]
        ours = [h for h in every if h["origin"] == OWN]
        is_latest = row["version"] == max(h["version"] for h in (ours or every))
        if is_latest and held:
            conn.execute("UPDATE objects SET latest = 0 WHERE id = ? AND latest = 1", [row["id"]])
        conn.execute(
            "INSERT INTO objects (id, version, type, spec_version, created_by, tlp, origin, source, received,"
            " digest, key_id, latest, json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [row["id"], row["version"], row["type"], row.get("spec_version", "2.1"), row.get("created_by"),
             row["tlp"], row["origin"], row.get("source"), row["received"], row["digest"], row.get("key_id"),
             1 if is_latest else 0, row["json"]],
        )

    def set_report_refs(self, report_id: str, version: str, refs: Iterable[str]) -> None:
        """The references of a report's newest version: a correction that drops an
        observable drops it here too; a late-arriving older version changes nothing."""
        newest = self.one("SELECT version FROM objects WHERE id = ? ORDER BY version DESC LIMIT 1", [report_id])
        if newest is not None and newest["version"] > version:
            return
        self.conn.execute("DELETE FROM report_refs WHERE report = ?", [report_id])
        self.add_report_refs(report_id, refs)

    def add_report_refs(self, report_id: str, refs: Iterable[str]) -> None:
        self.conn.executemany("INSERT OR IGNORE INTO report_refs (report, ref) VALUES (?, ?)",
                              [(report_id, ref) for ref in refs])

    def note_peer_copy(self, peer: str, object_id: str, version: str) -> None:
        """`peer` sent a version this node already held: it has that version."""
        self.conn.execute("INSERT OR IGNORE INTO peer_copies (id, version, peer) VALUES (?, ?, ?)",
                          [object_id, version, peer])

    # -- feeds -----------------------------------------------------------------

    def add_to_feed(self, feed_id: str, obj_row: dict, new_object: bool = False) -> int | None:
        """Publish one stored version in a feed; returns its date_added, None if already there.

        `new_object`: the id was unknown before this transaction, so no entry can exist."""
        conn = self.conn
        if new_object:
            first = newest = None
        else:
            if conn.execute("SELECT 1 FROM feed_entries WHERE feed = ? AND id = ? AND version = ?",
                            [feed_id, obj_row["id"], obj_row["version"]]).fetchone():
                return None
            first, newest = conn.execute(
                "SELECT MIN(version), MAX(version) FROM feed_entries WHERE feed = ? AND id = ? AND deleted = 0",
                [feed_id, obj_row["id"]],
            ).fetchone()
        date_added = self._next_date_added(feed_id)
        is_latest = newest is None or obj_row["version"] > newest
        is_first = first is None or obj_row["version"] < first
        if is_latest and newest is not None:
            conn.execute("UPDATE feed_entries SET latest = 0 WHERE feed = ? AND id = ? AND latest = 1",
                         [feed_id, obj_row["id"]])
        if is_first and first is not None:
            conn.execute("UPDATE feed_entries SET first = 0 WHERE feed = ? AND id = ? AND first = 1",
                         [feed_id, obj_row["id"]])
        conn.execute(
            "INSERT INTO feed_entries (feed, date_added, id, version, type, spec_version, tlp, latest, first)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            [feed_id, date_added, obj_row["id"], obj_row["version"], obj_row["type"],
             obj_row.get("spec_version", "2.1"), obj_row["tlp"], int(is_latest), int(is_first)],
        )
        return date_added

    def _next_date_added(self, feed_id: str) -> int:
        """Distinct, strictly increasing per feed. Only valid inside a write
        transaction, which is what makes the cached last value safe to reuse."""
        cache = self._local.last_added
        last = cache.get(feed_id)
        if last is None:
            last = self.conn.execute("SELECT MAX(date_added) FROM feed_entries WHERE feed = ?",
                                     [feed_id]).fetchone()[0] or 0
        date_added = max(now_us(), last + 1)
        cache[feed_id] = date_added
        return date_added

    def feeds_of(self, object_id: str) -> list[str]:
        return [r["feed"] for r in self.query(
            "SELECT DISTINCT feed FROM feed_entries WHERE id = ? AND deleted = 0", [object_id])]

    # -- audit and quarantine --------------------------------------------------

    def audit(self, event: str, object_id: str | None, version: str | None, source: str | None,
              reason: str) -> None:
        self.conn.execute(
            "INSERT INTO audit (at, event, object_id, version, source, reason) VALUES (?,?,?,?,?,?)",
            [now_us(), event, object_id, version, source, reason],
        )

    def quarantine(self, row: dict) -> bool:
        """Keep an object aside; False if it was already there."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO quarantine (id, version, digest, signer, key_id, reason, origin, source,"
            " received, json) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [row["id"], row["version"], row["digest"], row.get("signer"), row.get("key_id"), row["reason"],
             row["origin"], row.get("source"), row["received"], row["json"]],
        )
        return cur.rowcount == 1

    def counts(self) -> dict:
        return {
            "by_type": {r["type"]: r["n"] for r in self.query(
                "SELECT type, COUNT(*) AS n FROM objects WHERE latest = 1 GROUP BY type ORDER BY type")},
            "by_tlp": {r["tlp"]: r["n"] for r in self.query(
                "SELECT tlp, COUNT(*) AS n FROM objects WHERE latest = 1 GROUP BY tlp ORDER BY tlp")},
            "quarantine": self.one("SELECT COUNT(*) AS n FROM quarantine")["n"],
            "rejected": self.one("SELECT COUNT(*) AS n FROM audit WHERE event = 'rejected'")["n"],
        }
