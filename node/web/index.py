"""The UI's incident index: one row per incident, filter terms and an FTS5 table.

Every object the node stores, whatever door it came in by, passes
`index_stored_object`, so own, imported, pushed and pulled incidents are all here.
An incident, its report and the report's observables may arrive in any order: the
incident's arrival writes its row, filter terms and text from what the store holds
then; a later report or observable refreshes the report-derived parts of that row.

Rows are numbered in order of first arrival (`n`); lists are newest first by `n`,
which lets filter terms, the FTS index and paging all walk one order.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Iterable

from ..logs import get_logger
from ..store import Store
from ..timefmt import taxii_to_us
from ..wellknown import DISINFO_EXT

log = get_logger(__name__)

OBSERVABLE_TYPES = ("url", "domain-name", "user-account", "file")
# Objects whose content shows up in an incident's index row besides the incident itself.
INDEXED_NEIGHBOURS = (*OBSERVABLE_TYPES, "threat-actor")
TERM_KINDS = ("platform", "country", "technique", "tlp", "verdict", "node", "language")
PAGE_SIZE = 50
# An observable in more reports than this (t.me, youtube.com) is too common to relate incidents.
COMMON_OBSERVABLE = 200

SCHEMA = """
CREATE TABLE IF NOT EXISTS web_incidents (
    n INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL UNIQUE,
    version TEXT, report_id TEXT, title TEXT, summary TEXT, claim TEXT, language TEXT,
    verdict TEXT, tlp TEXT, confidence INTEGER, case_id TEXT, created TEXT,
    first_seen TEXT, first_seen_us INTEGER, last_seen TEXT, threat_actor TEXT,
    created_by TEXT, key_id TEXT, origin TEXT, source TEXT, received INTEGER
);
CREATE INDEX IF NOT EXISTS web_incidents_first_seen ON web_incidents (first_seen_us);
CREATE TABLE IF NOT EXISTS web_incident_terms (
    kind TEXT NOT NULL, value TEXT NOT NULL, incident INTEGER NOT NULL,
    PRIMARY KEY (kind, value, incident)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS web_incident_terms_incident ON web_incident_terms (incident);
CREATE VIRTUAL TABLE IF NOT EXISTS web_incident_fts USING fts5(
    title, summary, claim, threat_actor, observables, case_id,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
);
"""

_ready: set[str] = set()
_ready_lock = threading.Lock()


def ensure_schema(store: Store) -> None:
    if store.path in _ready:
        return
    with _ready_lock:
        # Statement by statement: executescript would commit a transaction the caller holds open.
        for statement in SCHEMA.split(";"):
            if statement.strip():
                store.conn.execute(statement)
        _ready.add(store.path)


# -- keeping the index --------------------------------------------------------------

def index_stored_object(store: Store, obj: dict, row: dict) -> None:
    """Ingest hook: re-index the incidents a newly stored object belongs to.

    A failure here must not cost the node the object itself (ingest runs this inside its
    transaction): the index writes are undone to a savepoint and logged; the next start's
    backfill indexes the incident again."""
    kind = obj.get("type")
    if kind not in ("incident", "report", *INDEXED_NEIGHBOURS):
        return
    ensure_schema(store)
    store.conn.execute("SAVEPOINT web_index")
    try:
        _reindex_for(store, obj)
    except Exception:
        store.conn.execute("ROLLBACK TO web_index")
        log.exception("the UI index could not take %s; it will be indexed at the next start", obj.get("id"))
    finally:
        store.conn.execute("RELEASE web_index")


def _reindex_for(store: Store, obj: dict) -> None:
    kind = obj["type"]
    if kind == "incident":
        reindex_incident(store, obj["id"])
    elif kind == "report":
        for ref in obj.get("object_refs") or ():
            if isinstance(ref, str) and ref.startswith("incident--"):
                refresh_neighbours(store, ref)
    else:
        for incident_id in _incidents_referring_to(store, obj["id"]):
            refresh_neighbours(store, incident_id)


def _incidents_referring_to(store: Store, object_id: str) -> list[str]:
    return [r["ref"] for r in store.query(
        "SELECT DISTINCT r2.ref FROM report_refs r1 JOIN report_refs r2 ON r2.report = r1.report"
        " WHERE r1.ref = ? AND r2.ref LIKE 'incident--%'", [object_id])]


def reindex_incident(store: Store, incident_id: str) -> None:
    stored = store.one("SELECT json, version, tlp, created_by, key_id, origin, source, received"
                       " FROM objects WHERE id = ? AND latest = 1", [incident_id])
    if stored is None:
        return  # the report came first; the incident's own arrival will index it
    report_id = _report_of(store, incident_id)
    neighbours = _neighbours(store, report_id) if report_id else []
    index_incident(store, json.loads(stored["json"]), stored, report_id, neighbours)


def index_incident(store: Store, incident: dict, stored: dict, report_id: str | None,
                   neighbours: list[dict]) -> int:
    """Write one incident's row, terms and text; returns its row number."""
    ensure_schema(store)
    entry = _entry(incident, stored, report_id, neighbours)
    n = _upsert(store, entry)
    _write_terms(store, n, _terms(entry, incident))
    _write_fts(store, n, entry, _observable_text(neighbours))
    return n


def refresh_neighbours(store: Store, incident_id: str) -> None:
    """The report or an observable arrived: only the row's report-derived parts change
    (filter terms come from the incident alone, so they stay)."""
    row = store.one("SELECT n, title, summary, claim, case_id FROM web_incidents WHERE incident_id = ?",
                    [incident_id])
    if row is None:
        return  # the incident itself has not arrived; its arrival indexes everything
    report_id = _report_of(store, incident_id)
    neighbours = _neighbours(store, report_id) if report_id else []
    actor = _actors(neighbours)
    store.conn.execute("UPDATE web_incidents SET report_id = ?, threat_actor = ? WHERE n = ?",
                       [report_id, actor, row["n"]])
    _write_fts(store, row["n"], {**row, "threat_actor": actor}, _observable_text(neighbours))


def _report_of(store: Store, incident_id: str) -> str | None:
    row = store.one("SELECT r.report FROM report_refs r JOIN objects o ON o.id = r.report AND o.latest = 1"
                    " WHERE r.ref = ? ORDER BY o.received LIMIT 1", [incident_id])
    return row["report"] if row else None


def _actors(neighbours: list[dict]) -> str | None:
    return ", ".join(o["name"] for o in neighbours
                     if o.get("type") == "threat-actor" and isinstance(o.get("name"), str)) or None


def _neighbours(store: Store, report_id: str) -> list[dict]:
    types = ", ".join("?" for _ in INDEXED_NEIGHBOURS)
    rows = store.query(
        "SELECT o.json FROM report_refs r JOIN objects o ON o.id = r.ref AND o.latest = 1"
        f" WHERE r.report = ? AND o.type IN ({types})", [report_id, *INDEXED_NEIGHBOURS])
    return [json.loads(r["json"]) for r in rows]


def _entry(incident: dict, stored: dict, report_id: str | None, neighbours: list[dict]) -> dict:
    ext = (incident.get("extensions") or {}).get(DISINFO_EXT) or {}
    first_seen = ext.get("first_seen")
    languages = ext.get("languages") or []
    return {
        "incident_id": incident["id"], "version": stored["version"], "report_id": report_id,
        "title": _str(incident.get("name")), "summary": _str(incident.get("description")),
        "claim": _str(ext.get("claim")), "language": _str(incident.get("lang") or (languages[:1] or [None])[0]),
        "verdict": _str(ext.get("verdict")), "tlp": stored["tlp"],
        "confidence": incident.get("confidence") if isinstance(incident.get("confidence"), int) else None,
        "case_id": _str(ext.get("case_id")), "created": _str(incident.get("created")),
        "first_seen": _str(first_seen), "first_seen_us": _us(first_seen), "last_seen": _str(ext.get("last_seen")),
        "threat_actor": _actors(neighbours),
        "created_by": stored["created_by"], "key_id": stored["key_id"], "origin": stored["origin"],
        "source": stored["source"], "received": stored["received"],
    }


def _str(value) -> str | None:
    return value if isinstance(value, str) else None


def _us(stamp) -> int | None:
    try:
        return taxii_to_us(stamp) if isinstance(stamp, str) else None
    except Exception:
        return None


def _upsert(store: Store, entry: dict) -> int:
    columns = list(entry)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "incident_id")
    return store.conn.execute(
        f"INSERT INTO web_incidents ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        f" ON CONFLICT (incident_id) DO UPDATE SET {updates} RETURNING n", [entry[c] for c in columns]).fetchall()[0][0]


def _terms(entry: dict, incident: dict) -> set[tuple[str, str]]:
    ext = (incident.get("extensions") or {}).get(DISINFO_EXT) or {}
    terms = set()
    for kind, values in (("platform", ext.get("platforms")), ("country", ext.get("target_countries")),
                         ("technique", ext.get("disarm_techniques"))):
        for value in values or ():
            if isinstance(value, str):
                terms.add((kind, value))
    for kind, column in (("tlp", "tlp"), ("verdict", "verdict"), ("node", "created_by"), ("language", "language")):
        if entry[column]:
            terms.add((kind, entry[column]))
    return terms


def _write_terms(store: Store, n: int, terms: Iterable[tuple[str, str]]) -> None:
    store.conn.execute("DELETE FROM web_incident_terms WHERE incident = ?", [n])
    store.conn.executemany("INSERT OR IGNORE INTO web_incident_terms (kind, value, incident) VALUES (?, ?, ?)",
                           [(kind, value, n) for kind, value in terms])


def _observable_text(neighbours: list[dict]) -> str:
    parts = []
    for obj in neighbours:
        kind = obj.get("type")
        if kind in ("url", "domain-name"):
            parts.append(_str(obj.get("value")) or "")
        elif kind == "user-account":
            parts.append(f"{obj.get('account_type', '')} {obj.get('account_login', '')}")
        elif kind == "file":
            parts.extend(v for v in (obj.get("hashes") or {}).values() if isinstance(v, str))
    return "\n".join(parts)


def _write_fts(store: Store, n: int, entry: dict, observables: str) -> None:
    store.conn.execute("DELETE FROM web_incident_fts WHERE rowid = ?", [n])
    store.conn.execute(
        "INSERT INTO web_incident_fts (rowid, title, summary, claim, threat_actor, observables, case_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [n, entry["title"] or "", entry["summary"] or "", entry["claim"] or "", entry["threat_actor"] or "",
         observables, entry["case_id"] or ""])


def backfill(store: Store) -> int:
    """Index incidents stored before the index existed (or by a node without the UI)."""
    ensure_schema(store)
    missing = store.query(
        "SELECT o.id FROM objects o WHERE o.type = 'incident' AND o.latest = 1"
        " AND NOT EXISTS (SELECT 1 FROM web_incidents i WHERE i.incident_id = o.id) ORDER BY o.received")
    for start in range(0, len(missing), 500):
        with store.transaction():
            for row in missing[start:start + 500]:
                reindex_incident(store, row["id"])
    return len(missing)


# -- queries ----------------------------------------------------------------------------

@dataclass
class Filters:
    text: str = ""
    terms: dict[str, str] = field(default_factory=dict)  # kind → value, kinds from TERM_KINDS
    seen_from_us: int | None = None
    seen_until_us: int | None = None
    before: int | None = None  # paging cursor: show rows with n below this
    limit: int = PAGE_SIZE


def fts_query(text: str) -> str | None:
    """User words → an FTS5 query: every word must occur (as a prefix); no FTS syntax passes."""
    words = [w for w in text.split() if any(c.isalnum() for c in w)]
    if not words:
        return None
    return " AND ".join('"' + w.replace('"', '""') + '"*' for w in words)


@dataclass
class _Plan:
    """How to find the matching rows: a driving table whose key walks the row numbers
    newest first, and the conditions each candidate must pass."""

    source: str
    key: str
    conds: list[str]
    params: list
    needs_row: bool  # conditions on web_incidents columns (the date range)


def _term_size(store: Store, kind: str, value: str, cap: int = 20_000) -> int:
    return store.one("SELECT COUNT(*) AS n FROM (SELECT 1 FROM web_incident_terms WHERE kind = ? AND value = ?"
                     " LIMIT ?)", [kind, value, cap])["n"]


def _plan(store: Store, filters: Filters) -> _Plan:
    # Drive from the FTS index when there is text (FTS5 walks rowids in order), else from
    # the smallest filter term's slice of the terms index, else from the rows themselves;
    # every other filter is a point lookup per candidate.
    terms = [(kind, value) for kind, value in filters.terms.items() if kind in TERM_KINDS and value]
    match = fts_query(filters.text)
    conds, params = [], []
    if match:
        source, key = "web_incident_fts", "web_incident_fts.rowid"
        conds.append("web_incident_fts MATCH ?")
        params.append(match)
    elif terms:
        terms.sort(key=lambda term: _term_size(store, *term))
        kind, value = terms.pop(0)
        source, key = "web_incident_terms t0", "t0.incident"
        conds.append("t0.kind = ? AND t0.value = ?")
        params += [kind, value]
    else:
        source, key = "web_incidents i", "i.n"
    for j, (kind, value) in enumerate(terms, 1):
        conds.append(f"EXISTS (SELECT 1 FROM web_incident_terms t{j} WHERE t{j}.kind = ? AND t{j}.value = ?"
                     f" AND t{j}.incident = {key})")
        params += [kind, value]
    for bound, op in ((filters.seen_from_us, ">="), (filters.seen_until_us, "<")):
        if bound is not None:
            conds.append(f"i.first_seen_us {op} ?")
            params.append(bound)
    needs_row = filters.seen_from_us is not None or filters.seen_until_us is not None
    return _Plan(source, key, conds, params, needs_row)


def _from(plan: _Plan, with_row: bool) -> str:
    if plan.key == "i.n" or not with_row:
        return plan.source
    return f"{plan.source} CROSS JOIN web_incidents i ON i.n = {plan.key}"


LIST_COLUMNS = ("i.n, i.incident_id, i.title, i.verdict, i.tlp, i.language, i.first_seen, i.created, i.case_id,"
                " i.created_by, i.origin, i.source, i.received, c.name AS node_name, c.country AS node_country")


def list_incidents(store: Store, filters: Filters) -> list[dict]:
    """One page, newest first; a row beyond the limit tells the caller there is a next page."""
    ensure_schema(store)
    plan = _plan(store, filters)
    conds, params = list(plan.conds), list(plan.params)
    if filters.before is not None:
        conds.append(f"{plan.key} < ?")
        params.append(filters.before)
    where = " AND ".join(conds) or "1"
    rows = store.query(
        f"SELECT {LIST_COLUMNS} FROM {_from(plan, True)} LEFT JOIN cards c ON c.identity = i.created_by"
        f" WHERE {where} ORDER BY {plan.key} DESC LIMIT ?", [*params, filters.limit + 1])
    return _with_terms(store, rows)


def count_incidents(store: Store, filters: Filters, cap: int = 10_000) -> tuple[int, bool]:
    """How many match, counted up to `cap` so a broad search stays cheap; (count, capped)."""
    ensure_schema(store)
    plan = _plan(store, filters)
    where = " AND ".join(plan.conds) or "1"
    n = store.one(f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM {_from(plan, plan.needs_row)} WHERE {where} LIMIT ?)",
                  [*plan.params, cap + 1])["n"]
    return min(n, cap), n > cap


def _with_terms(store: Store, rows: list[dict]) -> list[dict]:
    if not rows:
        return rows
    ns = [r["n"] for r in rows]
    terms: dict[int, dict[str, list[str]]] = {n: {} for n in ns}
    for t in store.query(f"SELECT incident, kind, value FROM web_incident_terms WHERE incident IN "
                         f"({', '.join('?' for _ in ns)}) AND kind IN ('platform', 'country', 'technique')"
                         " ORDER BY value", ns):
        terms[t["incident"]].setdefault(t["kind"], []).append(t["value"])
    for r in rows:
        r["terms"] = terms[r["n"]]
    return rows


def indexed_incident(store: Store, incident_id: str) -> dict | None:
    ensure_schema(store)
    return store.one("SELECT i.*, c.name AS node_name, c.country AS node_country FROM web_incidents i"
                     " LEFT JOIN cards c ON c.identity = i.created_by WHERE i.incident_id = ?", [incident_id])


def term_values(store: Store, kind: str) -> list[str]:
    """Values a filter can take (distinct values via the terms index: a skip-scan per value)."""
    ensure_schema(store)
    values, last = [], ""
    while len(values) < 500:
        row = store.one("SELECT value FROM web_incident_terms WHERE kind = ? AND value > ? ORDER BY value LIMIT 1",
                        [kind, last])
        if row is None:
            break
        values.append(row["value"])
        last = row["value"]
    return values


@dataclass
class Related:
    incidents: list[dict]
    too_common: list[tuple[str, str, int]]  # (kind, value, reports holding it): not used to relate


def related_incidents(store: Store, incident_id: str, limit: int = 50, common: int = COMMON_OBSERVABLE) -> Related:
    """Other incidents, from any node, whose reports share an observable with this one's.

    Observable ids are deterministic (UUIDv5 of the value), so the same URL recorded at
    two nodes is one id and the report_refs index finds the match directly. An observable
    in more than `common` reports (a domain such as t.me) relates nothing: it is named
    instead. Incidents sharing a URL, account or media hash rank above domain-only ones."""
    ensure_schema(store)
    like = " OR ".join(f"mine.ref LIKE '{t}--%'" for t in OBSERVABLE_TYPES)
    observables = [r["ref"] for r in store.query(
        "SELECT DISTINCT mine.ref FROM report_refs own JOIN report_refs mine ON mine.report = own.report"
        f" WHERE own.ref = ? AND ({like})", [incident_id])]
    shared: dict[str, list[str]] = {}
    too_common = []
    for ref in observables:
        reports = [r["report"] for r in store.query(
            "SELECT report FROM report_refs WHERE ref = ? LIMIT ?", [ref, common + 1])]
        if len(reports) > common:
            too_common.append(ref)
            continue
        for other in _incidents_of_reports(store, reports):
            if other != incident_id:
                shared.setdefault(other, []).append(ref)
    ranked = sorted(shared.items(), key=lambda kv: (-sum(_weight(r) for r in kv[1]), kv[0]))[:limit]
    values = observable_values(store, {ref for _, refs in ranked for ref in refs} | set(too_common))
    incidents = []
    for other_id, refs in ranked:
        entry = indexed_incident(store, other_id) or {"incident_id": other_id, "title": None}
        entry["shared"] = sorted(values.get(ref, (ref.split("--")[0], ref)) for ref in refs)
        incidents.append(entry)
    counted = [(*values.get(ref, ("?", ref)), _count_reports(store, ref)) for ref in too_common]
    return Related(incidents, counted)


def _weight(ref: str) -> int:
    # A shared domain alone is weak evidence; a shared URL, account or media hash is strong.
    return 1 if ref.startswith("domain-name--") else 10


def _incidents_of_reports(store: Store, reports: list[str]) -> list[str]:
    out = []
    for start in range(0, len(reports), 500):
        chunk = reports[start:start + 500]
        out += [r["ref"] for r in store.query(
            f"SELECT ref FROM report_refs WHERE report IN ({', '.join('?' for _ in chunk)})"
            " AND ref LIKE 'incident--%'", chunk)]
    return out


def _count_reports(store: Store, ref: str) -> int:
    return store.one("SELECT COUNT(*) AS n FROM report_refs WHERE ref = ?", [ref])["n"]


def observable_values(store: Store, ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """id → (kind, the value as an analyst reads it) for observables the node holds."""
    ids = list(ids)
    out = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for row in store.query(f"SELECT id, json FROM objects WHERE latest = 1 AND id IN "
                               f"({', '.join('?' for _ in chunk)})", chunk):
            out[row["id"]] = describe_observable(json.loads(row["json"]))
    return out


def describe_observable(obj: dict) -> tuple[str, str]:
    kind = obj.get("type", "")
    if kind in ("url", "domain-name"):
        return kind, str(obj.get("value", ""))
    if kind == "user-account":
        return "account", f"{obj.get('account_type', '')}: {obj.get('account_login', '')}"
    if kind == "file":
        hashes = obj.get("hashes") or {}
        return "media", str(hashes.get("SHA-256") or next(iter(hashes.values()), ""))
    return kind, obj.get("id", "")
