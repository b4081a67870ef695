"""The database schema and its history: a numbered list of migrations.

Every table, index and virtual table the node uses is made here and nowhere else.
`meta.schema_version` records the last step a database has had; `Store` calls
`upgrade` when it opens one, and the pending steps run in order inside the one
transaction that opens it, so a database is never left half-upgraded. A database
newer than this code is refused, never written to.

A change to the schema is a new step appended to MIGRATIONS, never an edit of an old
one: databases in the field have run the old steps as they were.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Callable

import sqlite_utils

from . import __version__
from .errors import ConfigError
from .timefmt import now_us


def _release_0_1_0(db: sqlite_utils.Database) -> None:
    """The tables release 0.1.0 made when it opened a database."""
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


def _lazy_tables_and_history(db: sqlite_utils.Database) -> None:
    """Release 0.1.0 made these tables only when a feature first ran (push, the UI's
    incident index, a failed web log-in), so its databases may lack any of them."""
    for statement in (*_PUSH_DDL, *_INCIDENT_INDEX_DDL, *_LOGIN_THROTTLE_DDL):
        db.execute(statement)
    db.execute("CREATE TABLE IF NOT EXISTS schema_history ("
               " version INTEGER PRIMARY KEY, applied INTEGER NOT NULL, qalqan_version TEXT NOT NULL)")


def _web_sessions(db: sqlite_utils.Database) -> None:
    """Server-side web sessions, so log-out ends a session for good (node/web/sessions.py)."""
    db.execute("CREATE TABLE IF NOT EXISTS web_sessions ("
               " id TEXT PRIMARY KEY, user TEXT NOT NULL, created INTEGER NOT NULL)")
    db.execute("CREATE INDEX IF NOT EXISTS web_sessions_user ON web_sessions (user)")


def _public_debunk_terms(db: sqlite_utils.Database) -> None:
    """Mark the incidents indexed before the public pages existed that they show
    (the index writes the term itself from now on; see incident_index.PUBLIC_TERM)."""

    from .incident_index import PUBLIC_TERM
    from .policy import is_public_debunk
    rows = db.execute("SELECT i.n, i.tlp, i.verdict, o.json FROM web_incidents i JOIN objects o"
                      " ON o.id = i.incident_id AND o.latest = 1 WHERE i.tlp = 'clear'").fetchall()
    db.conn.executemany("INSERT OR IGNORE INTO web_incident_terms (kind, value, incident) VALUES (?, ?, ?)",
                        [(*PUBLIC_TERM, n) for n, tlp, verdict, text in rows
                         if is_public_debunk(tlp, verdict, json.loads(text).get("revoked"))])


def _markings_only_where_referenced(db: sqlite_utils.Database) -> None:
    """Feeds carried every TLP marking from the start, red and amber+strict included;
    now a marking-definition is in a feed only beside an object there that references
    it (node/markings.py). Withdraw the others, as a DELETE through TAXII would."""
    from .policy import NEVER_SHARED
    from .wellknown import TLP_OF_MARKING
    entries = db.execute("SELECT seq, feed, id FROM feed_entries"
                         " WHERE type = 'marking-definition' AND deleted = 0").fetchall()
    for seq, feed, marking_id in entries:
        level = TLP_OF_MARKING.get(marking_id)
        if level in NEVER_SHARED:
            referenced = False
        elif level is not None and db.execute(
                "SELECT 1 FROM feed_entries WHERE feed = ? AND deleted = 0 AND tlp = ?"
                " AND type != 'marking-definition' LIMIT 1", [feed, level]).fetchone():
            referenced = True  # an object of that level is marked with it
        else:
            referenced = db.execute(
                "SELECT 1 FROM feed_entries e JOIN objects o ON o.id = e.id AND o.version = e.version"
                " WHERE e.feed = ? AND e.deleted = 0 AND e.type != 'marking-definition'"
                " AND instr(o.json, ?) > 0 LIMIT 1", [feed, '"' + marking_id + '"']).fetchone() is not None
        if not referenced:
            db.execute("UPDATE feed_entries SET deleted = 1, latest = 0, first = 0 WHERE seq = ?", [seq])


def _misp_index(db: sqlite_utils.Database) -> None:
    """Each feed's MISP feed index, kept by node/misp/index.py: per event its manifest
    record and hashes.csv lines, the TLP levels it shows and leaves out (so a ceiling
    change touches only the events it concerns), its creator and the card name it shows
    (so a renamed card touches only its events); per feed how far into the feed's
    entries it is and the ceiling it was built under. A trigger queues every
    withdrawal (an entry marked deleted) for the index to take the events it touches."""
    db.execute("CREATE TABLE IF NOT EXISTS misp_events ("
               " feed TEXT NOT NULL, uuid TEXT NOT NULL, shown INTEGER NOT NULL, hidden INTEGER NOT NULL,"
               " org TEXT NOT NULL, org_name TEXT NOT NULL, manifest TEXT NOT NULL, hashes TEXT NOT NULL,"
               " PRIMARY KEY (feed, uuid))")
    db.execute("CREATE INDEX IF NOT EXISTS misp_events_org ON misp_events (feed, org, org_name)")
    db.execute("CREATE TABLE IF NOT EXISTS misp_index_state ("
               " feed TEXT PRIMARY KEY, position INTEGER NOT NULL, ceiling TEXT NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS misp_withdrawals ("
               " n INTEGER PRIMARY KEY AUTOINCREMENT, feed TEXT NOT NULL, id TEXT NOT NULL)")
    db.execute("CREATE INDEX IF NOT EXISTS misp_withdrawals_feed ON misp_withdrawals (feed, n)")
    db.execute("CREATE TRIGGER IF NOT EXISTS misp_withdrawal AFTER UPDATE OF deleted ON feed_entries"
               " WHEN NEW.deleted = 1 AND OLD.deleted = 0"
               " BEGIN INSERT INTO misp_withdrawals (feed, id) VALUES (NEW.feed, NEW.id); END")


# The incident index's full text from step 8 on: a `keys` column with the search keys of
# the other columns (node/textkey: word forms and both scripts; incident_index.incident_keys).
_INCIDENT_FTS_WITH_KEYS = """CREATE VIRTUAL TABLE web_incident_fts USING fts5(
    title, summary, claim, threat_actor, observables, case_id, keys,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
)"""


def _search_keys(db: sqlite_utils.Database) -> None:
    """Search by word forms and scripts: the full-text table gains the `keys` column (an
    FTS5 table takes no new column, so it is made anew) and every incident indexed
    before gets its keys, from the text the old table holds."""
    from .incident_index import FTS_COLUMNS, incident_keys
    db.execute("ALTER TABLE web_incident_fts RENAME TO web_incident_fts_before_keys")
    db.execute(_INCIDENT_FTS_WITH_KEYS)
    columns = ", ".join(FTS_COLUMNS)
    marks = ", ".join("?" for _ in range(len(FTS_COLUMNS) + 2))
    last = -1
    while True:
        rows = db.execute(f"SELECT rowid, {columns} FROM web_incident_fts_before_keys WHERE rowid > ?"
                          " ORDER BY rowid LIMIT 2000", [last]).fetchall()
        if not rows:
            break
        db.conn.executemany(f"INSERT INTO web_incident_fts (rowid, {columns}, keys) VALUES ({marks})",
                            [(*row, incident_keys(dict(zip(FTS_COLUMNS, row[1:])))) for row in rows])
        last = rows[-1][0]
    db.execute("DROP TABLE web_incident_fts_before_keys")
# Near-duplicate claims (node/similar_claims.py): a MinHash signature per incident row
# with a claim, and its LSH band terms in a contentless FTS5 table (rowid = row `n`).
_CLAIM_DDL = (
    "CREATE TABLE IF NOT EXISTS claim_signatures (incident INTEGER PRIMARY KEY, signature BLOB NOT NULL)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS claim_bands USING fts5(terms, content='', detail='none', tokenize='ascii')",
)


def _claim_signatures(db: sqlite_utils.Database) -> None:
    """The near-duplicate claim index, signed for every incident indexed so far."""
    from .similar_claims import sign_all
    for statement in _CLAIM_DDL:
        db.execute(statement)
    sign_all(db.conn)
def _user_language(db: sqlite_utils.Database) -> None:
    """Each account's UI language (node/i18n.py LOCALES); NULL: the browser's choice."""
    if "language" not in db["users"].columns_dict:
        db.execute("ALTER TABLE users ADD COLUMN language TEXT")
def _corrections_sightings_opinions(db: sqlite_utils.Database) -> None:
    """Issue 12: the index of sightings and opinions (filled by reaction_index.backfill
    when the UI starts, as the incident index is), and the withdrawn and corrected terms
    of incidents indexed before them."""
    from .incident_index import CORRECTED_TERM, WITHDRAWN_TERM, is_correction
    from .reaction_index import TABLES
    for statement in TABLES:
        db.execute(statement)
    rows = db.execute("SELECT i.n, o.json FROM web_incidents i JOIN objects o ON o.id = i.incident_id"
                      " AND o.latest = 1").fetchall()
    terms = []
    for n, text in rows:
        incident = json.loads(text)
        if incident.get("revoked") is True:
            terms.append((*WITHDRAWN_TERM, n))
        if is_correction(incident):
            terms.append((*CORRECTED_TERM, n))
    db.conn.executemany("INSERT OR IGNORE INTO web_incident_terms (kind, value, incident) VALUES (?, ?, ?)", terms)
def _peer_copies(db: sqlite_utils.Database) -> None:
    """Which peers sent a version this node already held (a duplicate from a peer's
    POST, pull or `import --from`): they hold it, so push never sends it back to them
    (node/sync/push.py). The peer a version first came from is its `objects.source`."""
    db.execute("CREATE TABLE IF NOT EXISTS peer_copies ("
               " id TEXT NOT NULL, version TEXT NOT NULL, peer TEXT NOT NULL,"
               " PRIMARY KEY (id, version, peer)) WITHOUT ROWID")
def _response_index(db: sqlite_utils.Database) -> None:
    """The response index (node/response_index.py keeps it; the incident page and the
    dashboard read it), with the responses the database already held."""
    from .response_index import backfill
    db.execute("CREATE TABLE IF NOT EXISTS web_responses ("
               " response_id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, kind TEXT, taken TEXT NOT NULL,"
               " taken_us INTEGER NOT NULL, name TEXT, description TEXT, url TEXT,"
               " countermeasures TEXT NOT NULL DEFAULT '', tlp TEXT, created_by TEXT, origin TEXT, source TEXT,"
               " received INTEGER, recorded_by TEXT)")
    db.execute("CREATE INDEX IF NOT EXISTS web_responses_incident ON web_responses (incident_id, taken_us)")
    db.execute("CREATE INDEX IF NOT EXISTS web_responses_taken ON web_responses (taken_us)")
    backfill(db.conn)
def _watches(db: sqlite_utils.Database) -> None:
    """Watches, their notifications and the delivery outbox (node/alerts/). A
    notification is unique per (watch, event): an incident's arrival, one correction,
    its withdrawal, one sighting; the ingest hook writes it and its deliveries in the
    batch's transaction, the delivery worker of `qalqan serve` sends them and keeps the
    state of each (attempts, next try, last error) here, so a restart resumes."""
    db.execute("CREATE TABLE IF NOT EXISTS watches ("
               " id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
               " user TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,"
               " filters TEXT NOT NULL, emails TEXT NOT NULL, webhooks TEXT NOT NULL, apprise TEXT NOT NULL,"
               " muted INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL, created_by TEXT NOT NULL)")
    db.execute("CREATE INDEX IF NOT EXISTS watches_user ON watches (user)")
    db.execute("CREATE TABLE IF NOT EXISTS notifications ("
               " id INTEGER PRIMARY KEY, watch INTEGER NOT NULL REFERENCES watches (id) ON DELETE CASCADE,"
               " user TEXT NOT NULL, event TEXT NOT NULL, event_key TEXT NOT NULL, incident_id TEXT NOT NULL,"
               " object_id TEXT, created INTEGER NOT NULL, seen INTEGER, UNIQUE (watch, event_key))")
    db.execute("CREATE INDEX IF NOT EXISTS notifications_user ON notifications (user, seen, id)")
    db.execute("CREATE TABLE IF NOT EXISTS alert_deliveries ("
               " id INTEGER PRIMARY KEY,"
               " notification INTEGER NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,"
               " channel TEXT NOT NULL, target TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',"
               " attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, last_error TEXT, done_at INTEGER,"
               " UNIQUE (notification, channel, target))")
    db.execute("CREATE INDEX IF NOT EXISTS alert_deliveries_due ON alert_deliveries (next_at)"
               " WHERE state = 'pending'")


@dataclass(frozen=True)
class Migration:
    version: int
    what: str
    apply: Callable[[sqlite_utils.Database], None]


MIGRATIONS = (
    Migration(1, "the schema of release 0.1.0", _release_0_1_0),
    Migration(2, "tables 0.1.0 made lazily (push cursors, incident index, log-in throttle); schema history",
              _lazy_tables_and_history),
    Migration(3, "server-side web sessions", _web_sessions),
    Migration(4, "the public-debunk term of incidents indexed before the public pages", _public_debunk_terms),
    Migration(5, "marking-definitions only in feeds whose objects reference them", _markings_only_where_referenced),
    Migration(6, "the persistent MISP feed index and its withdrawal queue", _misp_index),
    Migration(7, "each web account's UI language", _user_language),
    Migration(8, "full-text search keys: word forms and both scripts (node/textkey)", _search_keys),
    Migration(9, "near-duplicate claims: MinHash signatures and LSH bands, back-filled", _claim_signatures),
    Migration(10, "the peers that sent again a version already held, so push never returns it", _peer_copies),
    Migration(11, "the index of sightings and opinions; withdrawn, corrected and disputed incident terms",
              _corrections_sightings_opinions),
    Migration(12, "watches, notifications and the alert delivery outbox", _watches),
    Migration(13, "the response index, with the responses already held", _response_index),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def schema_version(conn: sqlite3.Connection) -> int:
    """The last step the database has had; 0 for a new, empty one."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone():
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def upgrade(db: sqlite_utils.Database, path: str) -> list[int]:
    """Apply the pending steps (the caller holds a write transaction); returns their numbers."""
    current = schema_version(db.conn)
    if current > SCHEMA_VERSION:
        raise ConfigError(f"{path}: the database has schema version {current}, newer than the {SCHEMA_VERSION} "
                          f"of this Qalqan {__version__}; run the release that wrote it")
    applied = []
    for step in MIGRATIONS:
        if step.version > current:
            step.apply(db)
            applied.append(step.version)
    if applied:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
        db.conn.executemany("INSERT OR REPLACE INTO schema_history (version, applied, qalqan_version) VALUES (?, ?, ?)",
                            [(version, now_us(), __version__) for version in applied])
    return applied
