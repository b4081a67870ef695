"""The ingest hook of the alerts: what arrived, by any door, becomes notifications.

Every batch the ingest stores passes here inside its transaction (node/home.py wires
it around the incident index's hook), so own incidents, imports, TAXII POSTs and sync
pulls are all seen, and a notification exists exactly when the objects that caused it
do. Events, each with a key that makes it one notification per watch however many
objects or batches carry it (an incident arrives as a dozen objects, its report or
observables perhaps in a later batch):

- new: an incident this node did not hold (`new:ID`);
- corrected: a newer version of a held incident or of its report (`corrected:ID:VERSION`);
- withdrawn: a held incident revoked by its source (`withdrawn:ID`);
- sighting: a sighting of a held incident (`sighting:SIGHTING-ID`).

A watch matches when the incident index row matches the watch's filters, as the list
would show it (node/incident_query.py); a correction or a withdrawal also notifies the
watches the incident matched before it (a verdict corrected away from "fabricated"
concerns whoever watched "fabricated"). A watch hears of events from its creation on.
This hook only writes rows: delivery is the worker's (node/alerts/deliver.py).
"""
from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass

from ..incident_index import INDEXED_NEIGHBOURS, affected_incidents, is_correction
from ..incident_query import Filters, matching_rows
from ..logs import get_logger
from ..policy import account_sees_incident
from ..store import Store
from ..timefmt import now_us
from .watches import Watch, watch_from_row

log = get_logger(__name__)

NEW, CORRECTED, WITHDRAWN, SIGHTING = "new", "corrected", "withdrawn", "sighting"
EVENTS = (NEW, CORRECTED, WITHDRAWN, SIGHTING)
_TYPES = frozenset({"incident", "report", "sighting", *INDEXED_NEIGHBOURS})


@dataclass
class Event:
    kind: str
    key: str
    incident_id: str
    at: int  # when it began at this node (µs): watches made later do not hear of it
    object_id: str | None = None  # the sighting


class AlertHook:
    """`before_index` and `after_index` run around the incident index's hook, in the
    same thread and transaction; the first remembers which watches the changed
    incidents matched before the batch."""

    def __init__(self, store: Store):
        self.store = store
        self._local = threading.local()

    def before_index(self, stored: list[tuple[dict, dict]]) -> None:
        self._local.before, self._local.watches = {}, None
        if not _concerns_alerts(stored):
            return
        self._guarded(self._remember_before, stored)

    def after_index(self, stored: list[tuple[dict, dict]]) -> None:
        before, watches = getattr(self._local, "before", {}), getattr(self._local, "watches", None)
        self._local.before, self._local.watches = {}, None
        if watches and _concerns_alerts(stored):
            self._guarded(self._notify, stored, before, watches)

    def _guarded(self, action, *args):
        """A failure here must not cost the node the objects: undo the alert rows only."""
        conn = self.store.conn
        conn.execute("SAVEPOINT alerts")
        try:
            return action(*args)
        except Exception:
            conn.execute("ROLLBACK TO alerts")
            log.exception("alerts: the notifications of a batch could not be written")
            return None
        finally:
            conn.execute("RELEASE alerts")

    def _remember_before(self, stored) -> None:
        # The batch's transaction holds the writer: the watches cannot change until after_index.
        watches = [(watch, role, watch.query()) for watch, role in active_watches(self.store)]
        self._local.watches = watches
        self._local.before = self._matches_before(stored, watches)

    def _matches_before(self, stored, watches: list[tuple[Watch, str, Filters]]) -> dict[str, set[int]]:
        if not watches:
            return {}
        new, touched = affected_incidents(self.store, stored)
        rows = _index_rows(self.store, new | touched)
        if not rows:
            return {}
        by_n = {row["n"]: incident_id for incident_id, row in rows.items()}
        before: dict[str, set[int]] = {}
        for watch, _role, filters in watches:
            for n in matching_rows(self.store, filters, list(by_n)):
                before.setdefault(by_n[n], set()).add(watch.id)
        return before

    def _notify(self, stored, before: dict[str, set[int]], watches: list[tuple[Watch, str, Filters]]) -> None:
        events = incident_events(self.store, stored) + sighting_events(self.store, stored)
        rows = _index_rows(self.store, {e.incident_id for e in events})
        events = [e for e in events if e.incident_id in rows]
        if not events:
            return
        ns = sorted({rows[e.incident_id]["n"] for e in events})
        withdrawn = sorted({rows[e.incident_id]["n"] for e in events if e.kind == WITHDRAWN})
        for watch, role, filters in watches:
            now = matching_rows(self.store, filters, ns)
            if withdrawn:
                now |= matching_rows(self.store, dataclasses.replace(
                    filters, terms={**filters.terms, "state": "withdrawn"}), withdrawn)
            for event in events:
                row = rows[event.incident_id]
                earlier = event.kind in (CORRECTED, WITHDRAWN) and watch.id in before.get(event.incident_id, ())
                if event.at >= watch.created and (row["n"] in now or earlier) \
                        and account_sees_incident(role, row["tlp"]):
                    write_notification(self.store, watch, event)


def _concerns_alerts(stored) -> bool:
    return any(obj.get("type") in _TYPES for obj, _row in stored)


def active_watches(store: Store) -> list[tuple[Watch, str]]:
    """Unmuted watches with their owner's role."""
    return [(watch_from_row(r), r["role"]) for r in store.query(
        "SELECT w.*, u.role FROM watches w JOIN users u ON u.name = w.user WHERE w.muted = 0")]


def _index_rows(store: Store, incident_ids) -> dict[str, dict]:
    rows = {}
    for incident_id in incident_ids:
        row = store.one("SELECT n, report_id, tlp FROM web_incidents WHERE incident_id = ?", [incident_id])
        if row is not None:
            rows[incident_id] = row
    return rows


def incident_events(store: Store, stored) -> list[Event]:
    new, touched = affected_incidents(store, stored)
    return [e for e in (current_event(store, i) for i in sorted(new | touched)) if e is not None]


def current_event(store: Store, incident_id: str) -> Event | None:
    """The event an incident's present state is at this node: its arrival, its latest
    correction or its withdrawal (None: not held, or withdrawn before it ever came)."""
    versions = store.query("SELECT version, received, latest FROM objects WHERE id = ? ORDER BY version",
                           [incident_id])
    latest = next((v for v in versions if v["latest"]), None)
    if latest is None:
        return None
    incident = json.loads(store.object_json(incident_id))
    report = _report_versions(store, incident_id)
    earlier = len(versions) > 1 or len(report["versions"]) > 1
    if incident.get("revoked") is True:
        return Event(WITHDRAWN, f"withdrawn:{incident_id}", incident_id, latest["received"]) if earlier else None
    corrected = [(latest["version"], latest["received"])] if is_correction(incident) else []
    if report["latest"] is not None and is_correction(report["latest"]["json_obj"]):
        corrected.append((report["latest"]["version"], report["latest"]["received"]))
    if earlier and corrected:
        version, received = max(corrected)
        return Event(CORRECTED, f"corrected:{incident_id}:{version}", incident_id, received)
    return Event(NEW, f"new:{incident_id}", incident_id, min(v["received"] for v in versions))


def _report_versions(store: Store, incident_id: str) -> dict:
    row = store.one("SELECT report_id FROM web_incidents WHERE incident_id = ?", [incident_id])
    if row is None or not row["report_id"]:
        return {"versions": [], "latest": None}
    versions = store.query("SELECT version, received, latest FROM objects WHERE id = ? ORDER BY version",
                           [row["report_id"]])
    latest = next((v for v in versions if v["latest"]), None)
    if latest is not None:
        latest = {**latest, "json_obj": json.loads(store.object_json(row["report_id"]))}
    return {"versions": versions, "latest": latest}


def sighting_events(store: Store, stored) -> list[Event]:
    """Sightings of an incident (`sighting_of_ref`), on their first arrival here."""
    events = []
    for obj, row in stored:
        ref = obj.get("sighting_of_ref")
        if obj.get("type") != "sighting" or not isinstance(ref, str) or not ref.startswith("incident--"):
            continue
        if store.one("SELECT COUNT(*) AS n FROM objects WHERE id = ?", [obj["id"]])["n"] == 1:
            events.append(Event(SIGHTING, f"sighting:{obj['id']}", ref, row["received"], obj["id"]))
    return events


def write_notification(store: Store, watch: Watch, event: Event) -> int | None:
    """The notification and its queued deliveries; None when the watch had it already."""
    now = now_us()
    cur = store.conn.execute(
        "INSERT OR IGNORE INTO notifications (watch, user, event, event_key, incident_id, object_id, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [watch.id, watch.user, event.kind, event.key, event.incident_id, event.object_id, now])
    if cur.rowcount != 1:
        return None
    store.conn.executemany(
        "INSERT OR IGNORE INTO alert_deliveries (notification, channel, target, next_at) VALUES (?, ?, ?, ?)",
        [(cur.lastrowid, channel, target, now) for channel, target in watch.channels])
    return cur.lastrowid
