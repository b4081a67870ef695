"""Corrections and withdrawals of this node's own incidents (docs/data-model.md, "Corrections").

A correction rebuilds the incident from an edited record and signs new versions of the
same objects (STIX versioning: same ids and `created`, a newer `modified`); what the
earlier version related to the incident and the correction no longer does is revoked.
A withdrawal revokes the incident, its report and its own incident-scoped objects
(`revoked: true`), the reason in the incident's disinformation extension. Both travel
as any new version does; shared objects (observables, locations, threat actors,
narratives, channels) are never revoked, as other incidents may use them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import incident as incident_mod
from .errors import N_, InputError
from .incident_index import disinfo_of, strings
from .platforms import platform_of_account_type
from .policy import TLP_ORDER
from .signing import SIGNATURE_EXT
from .timefmt import taxii_to_us, us_to_taxii, version_key
from .wellknown import DISINFO_EXT

if TYPE_CHECKING:
    from .home import IncidentResult, Node

MAX_REASON = 2_000
# Objects made for one incident alone: a correction versions them, a withdrawal revokes them.
INCIDENT_SCOPED = ("incident", "report", "observed-data", "relationship")


@dataclass
class Held:
    """An own incident as this node holds it now."""

    incident: dict
    tlp: str
    report: dict | None
    scoped: dict[str, dict]  # observed-data and relationships of the incident, by id


def held_incident(node: "Node", incident_id: str) -> Held:
    """The node's own, not withdrawn incident, or one clear error naming why not."""
    row = node.store.one("SELECT json, tlp, created_by FROM objects WHERE id = ? AND latest = 1", [incident_id])
    if row is None or not incident_id.startswith("incident--"):
        raise InputError.about("incident", N_("no incident %(id)r is held here"), id=incident_id)
    if row["created_by"] != node.config.identity:
        raise InputError.about("incident", N_("%(id)s was recorded by another node; only its source can correct or "
                                              "withdraw it (record a sighting or an opinion instead)"), id=incident_id)
    incident = json.loads(row["json"])
    if incident.get("revoked"):
        raise InputError.about("incident", N_("%(id)s is withdrawn; a withdrawn incident is not corrected"), id=incident_id)
    report = _latest_json(node, _report_id(node, incident_id))
    scoped = {o["id"]: o for o in _incident_relationships(node, incident_id)}
    for ref in strings((report or {}).get("object_refs")):
        if ref.startswith("observed-data--") and (obj := _latest_json(node, ref)) is not None:
            scoped[ref] = obj
    return Held(incident, row["tlp"], report, scoped)


def _latest_json(node: "Node", object_id: str | None) -> dict | None:
    return node.held_object(object_id) if object_id else None


def _report_id(node: "Node", incident_id: str) -> str | None:
    row = node.store.one("SELECT r.report FROM report_refs r JOIN objects o ON o.id = r.report AND o.latest = 1"
                         " WHERE r.ref = ? AND o.created_by = ? ORDER BY o.received LIMIT 1",
                         [incident_id, node.config.identity])
    return row["report"] if row else None


def _incident_relationships(node: "Node", incident_id: str) -> list[dict]:
    # Relationships carry no index of their ends; an own incident's are few and this runs
    # once per correction, so a scan of the node's own relationships is enough.
    rows = node.store.query("SELECT json FROM objects WHERE type = 'relationship' AND created_by = ? AND latest = 1"
                            " AND instr(json, ?) > 0", [node.config.identity, f'"source_ref":"{incident_id}"'])
    return [o for o in (json.loads(r["json"]) for r in rows) if o.get("source_ref") == incident_id]


# -- the record an incident was made from --------------------------------------------

def record_of(node: "Node", held: Held) -> dict:
    """The incident as a record (the fields of `incident add`), to edit and send back."""
    record = record_fields(node.store, held.incident, held.tlp, held.report)
    share = shared_with(node, held)
    return {**record, "share": share} if share is not None else record


def record_fields(store, incident: dict, tlp: str, report: dict | None) -> dict:
    """The record fields one version of an incident (with its report) states."""
    ext = disinfo_of(incident)
    neighbours = [json.loads(text) for text in (store.object_json(ref) for ref in strings((report or {}).get(
        "object_refs"))) if text]
    record = {
        "title": incident.get("name"), "summary": incident.get("description"), "claim": ext.get("claim"),
        "language": incident.get("lang") or (strings(ext.get("languages")) or [None])[0],
        "first_seen": ext.get("first_seen"), "last_seen": ext.get("last_seen"),
        "platforms": strings(ext.get("platforms")), "target_countries": strings(ext.get("target_countries")),
        "disarm": strings(ext.get("disarm_techniques")), "verdict": ext.get("verdict"),
        "confidence": incident.get("confidence"), "tlp": tlp,
        "urls": [o.get("value") for o in neighbours if o.get("type") == "url"],
        "accounts": [{"platform": platform_of_account_type(o.get("account_type")), "login": o.get("account_login")}
                     for o in neighbours if o.get("type") == "user-account"],
        "media_sha256": [o["hashes"]["SHA-256"] for o in neighbours
                         if o.get("type") == "file" and "SHA-256" in (o.get("hashes") or {})],
        "fact_check_url": next((r.get("url") for r in incident.get("external_references") or []
                                if isinstance(r, dict) and r.get("source_name") == "fact-check"), None),
        "threat_actor": next((o.get("name") for o in neighbours if o.get("type") == "threat-actor"), None),
    }
    return {k: v for k, v in record.items() if v not in (None, [])}


def shared_with(node: "Node", held: Held) -> list[str] | None:
    """The feeds the incident was shared in, when the record named them (`share`); None
    when it went to every feed its TLP allows (what `share` left out means)."""
    from .policy import feeds_for_own
    from .reactions import feed_names_holding
    held_names = feed_names_holding(node, held.incident["id"])
    everywhere = set(feeds_for_own(held.tlp, node.ingest.feed_rules()))
    return None if set(held_names) >= everywhere else held_names


def lowers_tlp(held: Held, new_tlp: str) -> bool:
    return TLP_ORDER.index(new_tlp) < TLP_ORDER.index(held.tlp)


# -- correcting and withdrawing ------------------------------------------------------

def edit_incident(node: "Node", incident_id: str, data: dict, lower_tlp_confirmed: bool = False) -> "IncidentResult":
    """Sign and publish a correction of an own incident from a complete record. A record
    without `share` keeps the feeds the incident was shared in."""
    held = held_incident(node, incident_id)
    if isinstance(data, dict) and "share" not in data and (share := shared_with(node, held)) is not None:
        data = {**data, "share": share}
    record = incident_mod.validate(data, node.disarm, node.config["default_tlp"], set(node.config.feeds))
    if lowers_tlp(held, record.tlp) and not lower_tlp_confirmed:
        raise InputError.about("tlp", N_("lowering it from %(before)s to %(after)s shares the incident more widely; "
                                         "confirm it (--lower-tlp on the command line, the confirmation box in the "
                                         "form)"), before=held.tlp, after=record.tlp)
    built = incident_mod.build(record, node.config.identity, node.config["node.country"], node.disarm,
                               node.scoped_ids, lambda oid: _latest_json(node, oid),
                               same_incident=(incident_id, disinfo_of(held.incident).get("case_id")))
    objects = _as_versions_of(held, built.objects)
    kept = {o["id"] for o in objects}
    objects += [_revoked(o) for oid, o in held.scoped.items() if oid not in kept]
    share = None if record.share is None else [node.config.feed(s).name for s in record.share]
    return node.publish_objects([o for o in objects if not _unchanged(node, o)], share, record.disarm,
                                built.report_id if held.report is None else held.report["id"], incident_id)


def withdraw_incident(node: "Node", incident_id: str, reason: str) -> "IncidentResult":
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise InputError.about("reason", N_("say why the incident is withdrawn (partners and the public read it)"))
    if len(reason) > MAX_REASON:
        raise InputError.about("reason", N_("at most %(limit)d characters"), limit=MAX_REASON)
    held = held_incident(node, incident_id)
    incident = _revoked(held.incident)
    incident["extensions"][DISINFO_EXT] = {**incident["extensions"][DISINFO_EXT], "withdrawal_reason": reason}
    objects = [incident, *(_revoked(o) for o in held.scoped.values())]
    if held.report is not None:
        objects.append(_revoked(held.report))
    return node.publish_objects(objects, shared_with(node, held), [], held.report["id"] if held.report else "",
                                incident_id)


def _as_versions_of(held: Held, fresh: list[dict]) -> list[dict]:
    """Give the rebuilt objects the ids of the ones they correct: the report, the
    observed-data, and each relationship of the incident with the same type and target."""
    renamed: dict[str, str] = {}
    earlier = {(o["relationship_type"], o["target_ref"]): o for o in held.scoped.values()
               if o.get("type") == "relationship"}
    observed = next((o for o in held.scoped.values() if o.get("type") == "observed-data"), None)
    for obj in fresh:
        twin = None
        if obj["type"] == "report":
            twin = held.report
        elif obj["type"] == "observed-data":
            twin = observed
        elif obj["type"] == "relationship" and obj["source_ref"] == held.incident["id"]:
            twin = earlier.get((obj["relationship_type"], obj["target_ref"]))
        elif obj["id"] == held.incident["id"]:
            twin = held.incident
        if twin is not None:
            renamed[obj["id"]] = twin["id"]
    out = []
    for obj in fresh:
        obj = {**obj, "id": renamed.get(obj["id"], obj["id"])}
        if obj["type"] == "report":
            obj["object_refs"] = [renamed.get(ref, ref) for ref in obj["object_refs"]]
            if held.report is not None:
                obj["published"] = held.report.get("published", obj["published"])
        twin = held.report if obj["type"] == "report" else held.scoped.get(obj["id"])
        if obj["id"] == held.incident["id"]:
            twin = held.incident
        out.append(incident_mod.current_version(twin, obj) if twin is not None else obj)
    return out


def _revoked(obj: dict) -> dict:
    ext = {k: v for k, v in (obj.get("extensions") or {}).items() if k != SIGNATURE_EXT}
    revoked = {**obj, "revoked": True, "modified": _after(obj["modified"])}
    if ext:
        revoked["extensions"] = ext
    else:
        revoked.pop("extensions", None)
    return revoked


def _after(modified: str) -> str:
    """Now, or a millisecond after `modified` if the clock has not passed it yet."""
    now = incident_mod.stix_now()
    return now if taxii_to_us(now) > taxii_to_us(modified) else us_to_taxii(taxii_to_us(modified) + 1000)


def _unchanged(node: "Node", obj: dict) -> bool:
    """A signed version held as it is: the correction leaves this object as it was."""
    signed = SIGNATURE_EXT in (obj.get("extensions") or {}) and "modified" in obj
    return signed and node.store.has_version(obj["id"], version_key(obj["modified"])) is not None
