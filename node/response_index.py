"""The response index: one row per response (a course-of-action with Qalqan's response
extension, node/responses.py) the node holds, own or received by any door.

Every stored object passes `index_stored_responses` (an ingest hook, like the incident
index's), so a response pulled, pushed, imported or recorded here is indexed the same
way. The row is made from the course-of-action alone (its extension names the incident),
so it does not wait for the `mitigates` relationship, and holds whatever a partner
signed without failing on it. A newer version replaces the row; a revoked one removes
it. The incident page and the dashboard read it (node/web/). Its table is made by
schema step 13 (node/migrations.py), which also indexes what a database already held.
"""
from __future__ import annotations

import json
import sqlite3

from .logs import get_logger
from .timefmt import taxii_to_us
from .wellknown import RESPONSE_EXT

log = get_logger(__name__)

COLUMNS = ("response_id", "incident_id", "kind", "taken", "taken_us", "name", "description", "url",
           "countermeasures", "tlp", "created_by", "origin", "source", "received")


def response_of(obj: dict) -> dict:
    """The response extension of a course-of-action, or {}."""
    extensions = obj.get("extensions")
    ext = extensions.get(RESPONSE_EXT) if isinstance(extensions, dict) else None
    return ext if isinstance(ext, dict) else {}


def index_stored_responses(conn: sqlite3.Connection, stored: list[tuple[dict, dict]]) -> None:
    """Ingest hook, inside the batch's transaction. A failure costs the index one row,
    never the node the objects: the row is undone to a savepoint and logged."""
    for obj, _row in stored:
        if obj.get("type") != "course-of-action" or not response_of(obj):
            continue
        conn.execute("SAVEPOINT response_index")
        try:
            reindex_response(conn, obj["id"])
        except Exception:
            conn.execute("ROLLBACK TO response_index")
            log.exception("the response index could not take %s", obj["id"])
        finally:
            conn.execute("RELEASE response_index")


def reindex_response(conn: sqlite3.Connection, response_id: str) -> None:
    """The row of the latest version held (an older version may arrive after a newer)."""
    held = conn.execute("SELECT json, tlp, created_by, origin, source, received FROM objects"
                        " WHERE id = ? AND latest = 1", [response_id]).fetchone()
    entry = _entry(json.loads(held[0]), *held[1:]) if held else None
    if entry is None:
        conn.execute("DELETE FROM web_responses WHERE response_id = ?", [response_id])
        return
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "response_id")
    conn.execute(f"INSERT INTO web_responses ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
                 f" ON CONFLICT (response_id) DO UPDATE SET {updates}", [entry[c] for c in COLUMNS])


def _entry(action: dict, tlp, created_by, origin, source, received) -> dict | None:
    ext = response_of(action)
    try:
        taken_us = taxii_to_us(ext.get("taken"))
    except Exception:
        return None
    if action.get("revoked") is True or not isinstance(ext.get("incident_ref"), str):
        return None
    text = lambda value: value if isinstance(value, str) else None  # noqa: E731
    ids = ext.get("countermeasures")
    return {"response_id": action["id"], "incident_id": ext["incident_ref"], "kind": text(ext.get("kind")),
            "taken": ext["taken"], "taken_us": taken_us, "name": text(action.get("name")),
            "description": text(action.get("description")), "url": text(ext.get("url")),
            "countermeasures": " ".join(i for i in ids if isinstance(i, str)) if isinstance(ids, list) else "",
            "tlp": tlp, "created_by": created_by, "origin": origin, "source": source, "received": received}


def set_recorded_by(conn: sqlite3.Connection, response_id: str, by: str) -> None:
    """Which account of this node recorded an own response (kept here, never shared)."""
    conn.execute("UPDATE web_responses SET recorded_by = ? WHERE response_id = ?", [by, response_id])


def responses_of(conn: sqlite3.Connection, incident_id: str) -> list[dict]:
    """An incident's responses, oldest first, with the name and country of the node that
    signed each (from its pinned card)."""
    cursor = conn.execute(
        "SELECT r.*, c.name AS node_name, c.country AS node_country FROM web_responses r"
        " LEFT JOIN cards c ON c.identity = r.created_by WHERE r.incident_id = ? ORDER BY r.taken_us, r.response_id",
        [incident_id])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def backfill(conn: sqlite3.Connection) -> int:
    """Index the responses a database held before the index existed."""
    ids = [r[0] for r in conn.execute("SELECT id FROM objects WHERE type = 'course-of-action' AND latest = 1")]
    for response_id in ids:
        reindex_response(conn, response_id)
    return len(ids)
