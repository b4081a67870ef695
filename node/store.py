"""The node's SQLite store (WAL), built with sqlite-utils.

Objects are kept as canonical JSON keyed by (id, version), where version is the
object's `modified` (else `created`) normalised to microseconds; SCOs, which have
neither, get the time they were first stored. Feed membership lives in
`feed_entries` with a per-feed strictly increasing `date_added` (microseconds);
TAXII pages and UI lists are index ranges over it.
"""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import sqlite_utils

from .timefmt import now_us

SCHEMA_VERSION = 1


# The sync outbox: per peer, the last feed entry (seq) every push feed has taken.
_PUSH_DDL = ("CREATE TABLE IF NOT EXISTS push_cursors (peer TEXT PRIMARY KEY, seq INTEGER NOT NULL)",)

# The incident index (node/incident_index.py keeps it, the UI reads it): one row per
# incident, filter terms, and full text.
_INCIDENT_INDEX_DDL = (
    """CREATE TABLE IF NOT EXISTS web_incidents (
    n INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL UNIQUE,
    version TEXT, report_id TEXT, title TEXT, summary TEXT, claim TEXT, language TEXT,
    verdict TEXT, tlp TEXT, confidence INTEGER, case_id TEXT, created TEXT,
    first_seen TEXT, first_seen_us INTEGER, last_seen TEXT, threat_actor TEXT,
    created_by TEXT, key_id TEXT, origin TEXT, source TEXT, received INTEGER
)""",
    "CREATE INDEX IF NOT EXISTS web_incidents_first_seen ON web_incidents (first_seen_us)",
    """CREATE TABLE IF NOT EXISTS web_incident_terms (
    kind TEXT NOT NULL, value TEXT NOT NULL, incident INTEGER NOT NULL,
    PRIMARY KEY (kind, value, incident)
) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS web_incident_terms_incident ON web_incident_terms (incident)",
    """CREATE VIRTUAL TABLE IF NOT EXISTS web_incident_fts USING fts5(
    title, summary, claim, threat_actor, observables, case_id,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
)""",
)

# Failed web log-ins, for the rate limit (node/web/throttle.py).
_LOGIN_THROTTLE_DDL = (
    "CREATE TABLE IF NOT EXISTS web_login_failures (key TEXT NOT NULL, at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS web_login_failures_key ON web_login_failures (key, at)",
)


def _create_schema(db: sqlite_utils.Database) -> None:
    db["objects"].create(
        {
            "id": str, "version": str, "type": str, "spec_version": str, "created_by": str,
            "tlp": str, "origin": str, "source": str, "received": int, "digest": str,
            "key_id": str, "latest": int, "json": str,
        },
        pk=("id", "version"), not_null={"type", "tlp", "origin", "received", "digest", "json"},
        if_not_exists=True,
    )
    db["objects"].create_index(["type", "latest", "received"], if_not_exists=True)
    db["objects"].create_index(["created_by"], if_not_exists=True)
    db["objects"].create_index(["digest"], if_not_exists=True)
    db.execute(
        "CREATE TABLE IF NOT EXISTS feed_entries ("
        " seq INTEGER PRIMARY KEY AUTOINCREMENT, feed TEXT NOT NULL, date_added INTEGER NOT NULL,"
        " id TEXT NOT NULL, version TEXT NOT NULL, type TEXT NOT NULL, spec_version TEXT NOT NULL,"
        " tlp TEXT NOT NULL, latest INTEGER NOT NULL, first INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,"
        " UNIQUE (feed, date_added), UNIQUE (feed, id, version))"
    )
    db.execute("CREATE INDEX IF NOT EXISTS feed_latest ON feed_entries (feed, latest, date_added) WHERE deleted = 0")
    db.execute("CREATE INDEX IF NOT EXISTS feed_first ON feed_entries (feed, first, date_added) WHERE deleted = 0")
    db.execute("CREATE INDEX IF NOT EXISTS feed_all ON feed_entries (feed, deleted, date_added)")
    db.execute("CREATE INDEX IF NOT EXISTS feed_object ON feed_entries (feed, id, date_added)")
    db["report_refs"].create({"report": str, "ref": str}, pk=("report", "ref"), if_not_exists=True)
    db["report_refs"].create_index(["ref"], if_not_exists=True)
    db["keys"].create(
        {"key_id": str, "identity": str, "public_key": str, "valid_from": str, "revoked": str, "card_version": str},
        pk="key_id", if_not_exists=True,
    )
    db["keys"].create_index(["identity"], if_not_exists=True)
    db["cards"].create({"identity": str, "version": str, "name": str, "country": str, "json": str},
                       pk="identity", if_not_exists=True)
    db["quarantine"].create(
        {"id": str, "version": str, "digest": str, "signer": str, "key_id": str, "reason": str,
         "origin": str, "source": str, "received": int, "json": str},
        pk=("id", "version", "digest"), if_not_exists=True,
    )
    db["quarantine"].create_index(["signer"], if_not_exists=True)
    db["audit"].create(
        {"seq": int, "at": int, "event": str, "object_id": str, "version": str, "source": str, "reason": str},
        pk="seq", if_not_exists=True,
    )
    db["peers"].create(
        {"name": str, "last_attempt": int, "last_success": int, "last_error": str, "last_error_at": int,
         "received": int, "accepted": int, "duplicates": int, "quarantined": int, "rejected": int},
        pk="name", defaults={"received": 0, "accepted": 0, "duplicates": 0, "quarantined": 0, "rejected": 0},
        if_not_exists=True,
    )
    db["cursors"].create({"peer": str, "feed": str, "added_after": str}, pk=("peer", "feed"), if_not_exists=True)
    db["statuses"].create({"id": str, "created": int, "owner": str, "json": str}, pk="id", if_not_exists=True)
    db["tokens"].create({"id": str, "peer": str, "hash": str, "created": int}, pk="id", if_not_exists=True)
    db["tokens"].create_index(["peer"], if_not_exists=True)
    db["users"].create({"name": str, "role": str, "password_hash": str, "created": int}, pk="name",
                       if_not_exists=True)
    db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
    for statement in (*_PUSH_DDL, *_INCIDENT_INDEX_DDL, *_LOGIN_THROTTLE_DDL):
        db.execute(statement)
    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])


class Store:
    """One connection per thread to the node's database."""

    def __init__(self, path: Path | str):
        self.path = str(path)
        self._local = threading.local()
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self.transaction() as db:
            _create_schema(db)

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # Reads through a memory map skip a syscall per page: a TAXII page at a million
            # objects costs about what it costs at a thousand (bench/taxii_paging.py).
            conn.execute("PRAGMA mmap_size=2147418112")
            conn.execute("PRAGMA busy_timeout=30000")
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
        conn.execute("BEGIN IMMEDIATE")
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
        return self.query("SELECT version, digest, created_by, latest FROM objects WHERE id = ? ORDER BY version",
                          [object_id])

    def has_version(self, object_id: str, version: str) -> dict | None:
        return self.one("SELECT digest, created_by FROM objects WHERE id = ? AND version = ?", [object_id, version])

    def object_json(self, object_id: str, version: str | None = None) -> str | None:
        if version is None:
            row = self.one("SELECT json FROM objects WHERE id = ? AND latest = 1", [object_id])
        else:
            row = self.one("SELECT json FROM objects WHERE id = ? AND version = ?", [object_id, version])
        return row["json"] if row else None

    def insert_object(self, row: dict, held: list[dict] | None = None) -> None:
        """Insert a new version; keeps `latest` on the newest version of the id.
        `held` (from versions_of) saves a query when the caller has it."""
        conn = self.conn
        if held is None:
            held = self.versions_of(row["id"])
        newest = max((h["version"] for h in held), default=None)
        is_latest = newest is None or row["version"] > newest
        if is_latest and newest is not None:
            conn.execute("UPDATE objects SET latest = 0 WHERE id = ? AND latest = 1", [row["id"]])
        conn.execute(
            "INSERT INTO objects (id, version, type, spec_version, created_by, tlp, origin, source, received,"
            " digest, key_id, latest, json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [row["id"], row["version"], row["type"], row.get("spec_version", "2.1"), row.get("created_by"),
             row["tlp"], row["origin"], row.get("source"), row["received"], row["digest"], row.get("key_id"),
             1 if is_latest else 0, row["json"]],
        )

    def add_report_refs(self, report_id: str, refs: Iterable[str]) -> None:
        self.conn.executemany("INSERT OR IGNORE INTO report_refs (report, ref) VALUES (?, ?)",
                              [(report_id, ref) for ref in refs])

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
