"""The index of sightings and opinions about incidents, kept on ingest from every door
(like node/incident_index.py for incidents), for the incident page's timeline and
opinions and the list's "disputed" filter. Its tables are part of the store's schema
(node/migrations.py, step 11)."""
from __future__ import annotations

import json

from .incident_index import strings
from .opinions import DISPUTING
from .sightings import PLATFORM_LABEL
from .store import Store
from .timefmt import taxii_to_us

DISPUTED_TERM = ("opinion", "disputed")
INDEXED_TYPES = ("sighting", "opinion")


def index_reactions(store: Store, stored: list[tuple[dict, dict]]) -> None:
    """Ingest hook: index each newly stored sighting and opinion (its latest version)."""
    disputes = set()
    for obj, _row in stored:
        kind = obj.get("type")
        if kind not in INDEXED_TYPES or not _is_latest(store, obj["id"], _row["version"]):
            continue
        if kind == "sighting":
            _index_sighting(store, obj)
        else:
            disputes.update(_index_opinion(store, obj))
    for incident_id in disputes:
        refresh_disputed(store, incident_id)


def _is_latest(store: Store, object_id: str, version: str) -> bool:
    row = store.one("SELECT 1 AS x FROM objects WHERE id = ? AND version = ? AND latest = 1", [object_id, version])
    return row is not None


def _us(stamp) -> int | None:
    try:
        return taxii_to_us(stamp) if isinstance(stamp, str) else None
    except Exception:
        return None


def _country(store: Store, sighting: dict) -> str | None:
    for ref in strings(sighting.get("where_sighted_refs")):
        text = store.object_json(ref)
        country = json.loads(text).get("country") if text else None
        if isinstance(country, str):
            return country
    card = store.one("SELECT country FROM cards WHERE identity = ?", [sighting.get("created_by_ref") or ""])
    return card["country"] if card else None  # where it was seen, else the sighting node's country


def _index_sighting(store: Store, sighting: dict) -> None:
    incident = sighting.get("sighting_of_ref")
    if not isinstance(incident, str) or not incident.startswith("incident--"):
        return
    platform = next((label[len(PLATFORM_LABEL):] for label in strings(sighting.get("labels"))
                     if label.startswith(PLATFORM_LABEL)), None)
    count = sighting.get("count")
    store.conn.execute(
        "INSERT INTO web_sightings (id, incident, created_by, country, platform, first_seen_us, last_seen_us, count,"
        " note, revoked) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET incident = excluded.incident,"
        " country = excluded.country, platform = excluded.platform, first_seen_us = excluded.first_seen_us,"
        " last_seen_us = excluded.last_seen_us, count = excluded.count, note = excluded.note,"
        " revoked = excluded.revoked",
        [sighting["id"], incident, sighting.get("created_by_ref"), _country(store, sighting), platform,
         _us(sighting.get("first_seen")), _us(sighting.get("last_seen") or sighting.get("first_seen")),
         count if isinstance(count, int) and not isinstance(count, bool) else None,
         sighting.get("description") if isinstance(sighting.get("description"), str) else None,
         int(sighting.get("revoked") is True)])


def _index_opinion(store: Store, opinion: dict) -> list[str]:
    incidents = [ref for ref in strings(opinion.get("object_refs")) if ref.startswith("incident--")]
    value = opinion.get("opinion") if isinstance(opinion.get("opinion"), str) else None
    explanation = opinion.get("explanation") if isinstance(opinion.get("explanation"), str) else None
    store.conn.execute("DELETE FROM web_opinions WHERE id = ?", [opinion["id"]])
    if opinion.get("revoked") is not True:
        store.conn.executemany(
            "INSERT INTO web_opinions (id, incident, created_by, opinion, explanation, modified) VALUES (?,?,?,?,?,?)",
            [(opinion["id"], incident, opinion.get("created_by_ref"), value, explanation, opinion.get("modified"))
             for incident in incidents])
    return incidents


def is_disputed(store: Store, incident_id: str) -> bool:
    marks = ", ".join("?" for _ in DISPUTING)
    return store.one(f"SELECT 1 AS x FROM web_opinions WHERE incident = ? AND opinion IN ({marks}) LIMIT 1",
                     [incident_id, *DISPUTING]) is not None


def refresh_disputed(store: Store, incident_id: str) -> None:
    row = store.one("SELECT n FROM web_incidents WHERE incident_id = ?", [incident_id])
    if row is None:
        return  # indexing the incident when it arrives adds the term (incident_index.index_incident)
    if is_disputed(store, incident_id):
        store.conn.execute("INSERT OR IGNORE INTO web_incident_terms (kind, value, incident) VALUES (?, ?, ?)",
                           [*DISPUTED_TERM, row["n"]])
    else:
        store.conn.execute("DELETE FROM web_incident_terms WHERE kind = ? AND value = ? AND incident = ?",
                           [*DISPUTED_TERM, row["n"]])


def sightings_of(store: Store, incident_id: str) -> list[dict]:
    return store.query(
        "SELECT s.*, c.name AS node_name, c.country AS node_country FROM web_sightings s"
        " LEFT JOIN cards c ON c.identity = s.created_by WHERE s.incident = ? AND s.revoked = 0"
        " ORDER BY s.first_seen_us, s.id", [incident_id])


def opinions_of(store: Store, incident_id: str) -> list[dict]:
    return store.query(
        "SELECT o.*, c.name AS node_name, c.country AS node_country FROM web_opinions o"
        " LEFT JOIN cards c ON c.identity = o.created_by WHERE o.incident = ? ORDER BY o.modified", [incident_id])


def backfill(store: Store) -> int:
    """Index the sightings and opinions stored before this index existed."""
    rows = store.query(
        "SELECT o.version, o.json FROM objects o WHERE o.type IN ('sighting', 'opinion') AND o.latest = 1"
        " AND NOT EXISTS (SELECT 1 FROM web_sightings s WHERE s.id = o.id)"
        " AND NOT EXISTS (SELECT 1 FROM web_opinions p WHERE p.id = o.id)")
    with store.transaction():
        index_reactions(store, [(json.loads(r["json"]), {"version": r["version"]}) for r in rows])
    return len(rows)


TABLES = (
    "CREATE TABLE IF NOT EXISTS web_sightings (id TEXT PRIMARY KEY, incident TEXT NOT NULL, created_by TEXT,"
    " country TEXT, platform TEXT, first_seen_us INTEGER, last_seen_us INTEGER, count INTEGER, note TEXT,"
    " revoked INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS web_sightings_incident ON web_sightings (incident, first_seen_us)",
    "CREATE TABLE IF NOT EXISTS web_opinions (id TEXT NOT NULL, incident TEXT NOT NULL, created_by TEXT,"
    " opinion TEXT, explanation TEXT, modified TEXT, PRIMARY KEY (id, incident))",
    "CREATE INDEX IF NOT EXISTS web_opinions_incident ON web_opinions (incident, opinion)",
)
