"""The incident index: one row per incident, filter terms, an FTS5 table, and the
claim signatures that find near-duplicate claims (node/similar_claims.py).

A core concern (every door feeds it through the ingest hook, the CLI included); the
UI reads it through node/web/index.py. Its tables are part of the store's schema.

Every object the node stores, whatever door it came in by, passes
`index_stored_batch`, so own, imported, pushed and pulled incidents are all here.
An incident, its report and the report's observables may arrive in any order: the
incident's arrival writes its row, filter terms and text from what the store holds
then; a later report or observable refreshes the report-derived parts of that row.

Rows are numbered in order of first arrival (`n`); lists are newest first by `n`,
which lets filter terms, the FTS index and paging all walk one order.
"""
from __future__ import annotations

import json
from typing import Iterable

from .logs import get_logger
from .policy import is_public_debunk
from .similar_claims import index_claim
from .store import Store
from .textkey import search_keys
from .timefmt import taxii_to_us
from .wellknown import DISINFO_EXT

log = get_logger(__name__)

OBSERVABLE_TYPES = ("url", "domain-name", "user-account", "file")
# Objects whose content shows up in an incident's index row besides the incident itself.
INDEXED_NEIGHBOURS = (*OBSERVABLE_TYPES, "threat-actor")
# The filter term of incidents the public pages show (policy.is_public_debunk decides):
# public lists, search and the Atom feed walk its slice of the terms index.
PUBLIC_TERM = ("public", "debunk")
# Corrected and withdrawn incidents (node/corrections.py): lists leave withdrawn ones out
# unless asked for them.
WITHDRAWN_TERM = ("state", "withdrawn")
CORRECTED_TERM = ("state", "corrected")

def index_stored_batch(store: Store, stored: list[tuple[dict, dict]]) -> None:
    """Ingest hook, once per batch inside its transaction: re-index each incident the
    batch's new objects belong to, once, however many of its objects arrived (a report
    with thousands of observables costs one refresh, not one per observable).

    A failure here must not cost the node the objects themselves: one incident's index
    writes are undone to a savepoint and logged; the next start's backfill indexes it."""
    new_incidents, touched = affected_incidents(store, stored)
    for incident_id in new_incidents:
        _guarded(store, incident_id, reindex_incident)
    for incident_id in touched - new_incidents:
        _guarded(store, incident_id, refresh_neighbours)


def affected_incidents(store: Store, stored: list[tuple[dict, dict]]) -> tuple[set[str], set[str]]:
    """(incidents that arrived, incidents whose report or neighbours arrived)."""
    new_incidents, touched = set(), set()
    for obj, row in stored:
        kind = obj.get("type")
        if kind == "incident":
            new_incidents.add(obj["id"])
        elif kind == "report":
            touched.update(ref for ref in strings(obj.get("object_refs")) if ref.startswith("incident--"))
        elif kind in INDEXED_NEIGHBOURS and not _is_new_variant_of_an_sco(store, kind, obj["id"]):
            touched.update(_incidents_referring_to(store, obj["id"]))
    return new_incidents, touched


def _is_new_variant_of_an_sco(store: Store, kind: str, object_id: str) -> bool:
    # An SCO's id is its content: another version (other markings) changes no indexed text,
    # and a common one (t.me) would otherwise refresh every incident that names it.
    return kind in OBSERVABLE_TYPES and store.one(
        "SELECT COUNT(*) AS n FROM objects WHERE id = ?", [object_id])["n"] > 1


def _guarded(store: Store, incident_id: str, index) -> None:
    store.conn.execute("SAVEPOINT incident_index")
    try:
        index(store, incident_id)
    except Exception:
        store.conn.execute("ROLLBACK TO incident_index")
        log.exception("the incident index could not take %s; it will be indexed at the next start", incident_id)
    finally:
        store.conn.execute("RELEASE incident_index")


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
    """Write one incident's row, terms, text and claim signature; returns its row number."""
    from .reaction_index import DISPUTED_TERM, is_disputed  # it builds on this module
    entry = _entry(incident, stored, report_id, neighbours)
    n = _upsert(store, entry)
    terms = _terms(entry, incident)
    if is_disputed(store, incident["id"]):
        terms.add(DISPUTED_TERM)
    _write_terms(store, n, terms)
    _write_fts(store, n, entry, _observable_text(neighbours))
    index_claim(store.conn, n, entry["claim"])
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
    report = store.object_json(report_id) if report_id else None
    if report and is_correction(json.loads(report)):
        store.conn.execute("INSERT OR IGNORE INTO web_incident_terms (kind, value, incident) VALUES (?, ?, ?)",
                           [*CORRECTED_TERM, row["n"]])
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


def disinfo_of(incident: dict) -> dict:
    """Our extension of a stored incident, or {} when it is missing or not an object:
    the index takes whatever a partner signed without failing on it."""
    extensions = incident.get("extensions")
    ext = extensions.get(DISINFO_EXT) if isinstance(extensions, dict) else None
    return ext if isinstance(ext, dict) else {}


def strings(value) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _entry(incident: dict, stored: dict, report_id: str | None, neighbours: list[dict]) -> dict:
    ext = disinfo_of(incident)
    first_seen = _str(ext.get("first_seen"))
    confidence = incident.get("confidence")
    return {
        "incident_id": incident["id"], "version": stored["version"], "report_id": report_id,
        "title": _str(incident.get("name")), "summary": _str(incident.get("description")),
        "claim": _str(ext.get("claim")), "language": _str(incident.get("lang")) or (strings(ext.get("languages"))[:1]
                                                                                  or [None])[0],
        "verdict": _str(ext.get("verdict")), "tlp": stored["tlp"],
        "confidence": confidence if isinstance(confidence, int) and not isinstance(confidence, bool) else None,
        "case_id": _str(ext.get("case_id")), "created": _str(incident.get("created")),
        "first_seen": first_seen, "first_seen_us": _us(first_seen), "last_seen": _str(ext.get("last_seen")),
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
    ext = disinfo_of(incident)
    terms = set()
    for kind, values in (("platform", ext.get("platforms")), ("country", ext.get("target_countries")),
                         ("technique", ext.get("disarm_techniques"))):
        terms.update((kind, value) for value in strings(values))
    for kind, column in (("tlp", "tlp"), ("verdict", "verdict"), ("node", "created_by"), ("language", "language")):
        if entry[column]:
            terms.add((kind, entry[column]))
    if is_public_debunk(entry["tlp"], entry["verdict"], incident.get("revoked")):
        terms.add(PUBLIC_TERM)
    if incident.get("revoked") is True:
        terms.add(WITHDRAWN_TERM)
    if is_correction(incident):
        terms.add(CORRECTED_TERM)
    return terms


def is_correction(obj: dict | None) -> bool:
    """A later version than the first: its creator corrected it."""
    return bool(obj) and isinstance(obj.get("modified"), str) and obj.get("modified") != obj.get("created")


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
            hashes = obj.get("hashes")
            parts.extend(v for v in hashes.values() if isinstance(v, str)) if isinstance(hashes, dict) else None
    return "\n".join(parts)


def _write_fts(store: Store, n: int, entry: dict, observables: str) -> None:
    store.conn.execute("DELETE FROM web_incident_fts WHERE rowid = ?", [n])
    texts = {**{field: entry[field] or "" for field in FTS_FIELDS}, "observables": observables}
    store.conn.execute(
        "INSERT INTO web_incident_fts (rowid, title, summary, claim, threat_actor, observables, case_id, keys)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [n, *(texts[column] for column in FTS_COLUMNS), incident_keys(texts)])


def incident_keys(texts: dict) -> str:
    """The search keys (node/textkey: word forms and scripts) of an incident's full-text
    columns, each read on its own (a Russian title, a Kazakh claim)."""
    return search_keys(*(texts[column] or "" for column in FTS_COLUMNS))


# The full-text columns, as the FTS5 table names them; all but observables are entry fields.
FTS_COLUMNS = ("title", "summary", "claim", "threat_actor", "observables", "case_id")
FTS_FIELDS = tuple(column for column in FTS_COLUMNS if column != "observables")


def backfill(store: Store) -> int:
    """Index incidents stored before the index existed (or by a node without the UI)."""
    missing = store.query(
        "SELECT o.id FROM objects o WHERE o.type = 'incident' AND o.latest = 1"
        " AND NOT EXISTS (SELECT 1 FROM web_incidents i WHERE i.incident_id = o.id) ORDER BY o.received")
    for start in range(0, len(missing), 500):
        with store.transaction():
            for row in missing[start:start + 500]:
                _guarded(store, row["id"], reindex_incident)
    return len(missing)
