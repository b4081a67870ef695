"""An incident's history as its source corrected it: one entry per later version of the
incident or its report, with the record fields that changed (node/corrections.py makes
the versions; any node shows them, for its own and its partners' incidents)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from .corrections import record_fields
from .incident_index import disinfo_of
from .store import Store


@dataclass
class Change:
    at: str  # the STIX `modified` of the version
    withdrawn: bool = False
    reason: str | None = None
    fields: list[tuple[str, object, object]] = field(default_factory=list)  # (name, before, after)


def _versions(store: Store, object_id: str | None) -> list[tuple[str, dict, str]]:
    if not object_id:
        return []
    rows = store.query("SELECT version, tlp, json FROM objects WHERE id = ? ORDER BY version", [object_id])
    return [(r["version"], json.loads(r["json"]), r["tlp"]) for r in rows]


def history(store: Store, incident_id: str, report_id: str | None) -> list[Change]:
    """Changes after the first version, oldest first; [] for an incident never corrected."""
    incidents, reports = _versions(store, incident_id), _versions(store, report_id)
    if not incidents:
        return []
    stamps = sorted({v for v, _, _ in incidents} | {v for v, _, _ in reports if v >= incidents[0][0]})
    changes, before = [], None
    for stamp in stamps:
        _, incident, tlp = [entry for entry in incidents if entry[0] <= stamp][-1]
        report = next((r for v, r, _ in reversed(reports) if v <= stamp), None)
        state = record_fields(store, incident, tlp, report)
        if before is not None:
            withdrawn = incident.get("revoked") is True
            changed = [(name, before.get(name), state.get(name)) for name in dict.fromkeys([*before, *state])
                       if before.get(name) != state.get(name)]
            if changed or withdrawn:
                changes.append(Change(incident.get("modified") or stamp, withdrawn,
                                      disinfo_of(incident).get("withdrawal_reason") if withdrawn else None, changed))
                if withdrawn:
                    break
        before = state
    return changes
