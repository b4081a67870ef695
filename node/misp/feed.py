"""A feed as a native MISP feed: one MISP event per report the feed carries.

MISP subscribes to a "MISP feed" by URL: it reads `manifest.json` (event uuid → the
event's header and tags), `hashes.csv` (md5 of every attribute value, event uuid) and
`<event uuid>.json` (the event). The event is built with pymisp from the report and
the objects it refers to that the feed carries (the same TLP ceiling as TAXII):

- uuid = the report's uuid; info = its name; date = the incident's first_seen;
  timestamp = the report's modified; Orgc = the signer (its card's name and uuid);
- tags: `tlp:<level>`, then the labels of node/misp/tags.py (verdict, platforms,
  target countries, DISARM galaxy), computed from the incident's extension;
- attributes: claim (text), fact-check URL (link), threat actor, URLs, domains,
  media SHA-256; a `user-account` object per account; an event report with the
  summary and the finding (claim, verdict, confidence, techniques, fact check).

Attribute and object uuids derive from the report uuid and the value, so the same
event is the same JSON on every request and MISP updates rather than duplicates.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..config import Feed
from ..incident_index import disinfo_of, strings
from ..policy import TLP_RANK, may_carry, tlp_of
from ..store import Store
from . import tags as misp_tags

if TYPE_CHECKING:
    from pymisp import MISPEvent, MISPTag

# MISP's analysis levels: 1 ongoing, 2 completed.
ONGOING, COMPLETED = 1, 2
UNDEFINED_THREAT_LEVEL = 4


@dataclass
class EventView:
    """What one event holds, read from the stored STIX objects (no pymisp yet)."""

    uuid: str
    info: str
    date: str
    timestamp: int
    tlp: str
    org_name: str
    org_uuid: str
    tags: list[str]
    analysis: int
    attributes: list[tuple[str, str, str, str]] = field(default_factory=list)  # type, category, value, comment
    accounts: list[tuple[str, str]] = field(default_factory=list)  # platform, login
    report: str | None = None

    def hash_values(self) -> list[str]:
        """The values MISP hashes into hashes.csv, as pymisp's attributes_hashes does."""
        values = [value for _, _, value, _ in self.attributes]
        values += [v for platform, login in self.accounts for v in (login, platform)]
        return values

    def derived_uuid(self, *parts: str) -> str:
        return str(uuid.uuid5(uuid.UUID(self.uuid), "\n".join(parts)))


def _epoch(stamp: str | None) -> int:
    if not stamp:
        return 0
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


def _date(stamp: str | None) -> str:
    return (stamp or "")[:10] or datetime.now(timezone.utc).date().isoformat()


def view_of(report: dict, contents: list[dict], org_name: str) -> EventView:
    """The event of a report and the objects of it the feed carries."""
    incident = next((o for o in contents if o.get("type") == "incident"), None)
    ext = disinfo_of(incident) if incident else {}
    verdict = ext.get("verdict") if isinstance(ext.get("verdict"), str) else None
    creator = report.get("created_by_ref") if isinstance(report.get("created_by_ref"), str) else ""
    tlp = tlp_of(report)
    tags = [f"tlp:{tlp}"]
    if verdict:
        tags += misp_tags.labels(verdict, strings(ext.get("platforms")), strings(ext.get("target_countries")),
                                 strings(ext.get("disarm_techniques")))
    view = EventView(
        uuid=report["id"].split("--", 1)[1], info=str(report.get("name") or report["id"]),
        date=_date(ext.get("first_seen") if isinstance(ext.get("first_seen"), str) else report.get("published")),
        timestamp=_epoch(report.get("modified")), tlp=tlp, org_name=org_name or creator,
        org_uuid=creator.split("--", 1)[-1] if creator else "", tags=list(dict.fromkeys(tags)),
        analysis=ONGOING if verdict == "unverified" else COMPLETED)
    if incident:
        _add_incident(view, incident, ext, verdict)
    for obj in contents:
        _add_observable(view, obj)
    return view


def _add_incident(view: EventView, incident: dict, ext: dict, verdict: str | None) -> None:
    claim = ext.get("claim") if isinstance(ext.get("claim"), str) else None
    refs = incident.get("external_references") if isinstance(incident.get("external_references"), list) else []
    fact_checks = [r["url"] for r in refs if isinstance(r, dict) and r.get("source_name") == "fact-check"
                   and isinstance(r.get("url"), str)]
    confidence = incident.get("confidence") if isinstance(incident.get("confidence"), int) else None
    if claim:
        view.attributes.append(("text", "Other", claim, "claim"))
    for url in fact_checks:
        view.attributes.append(("link", "External analysis", url, "fact check"))
    if verdict:
        finding = misp_tags.Finding(verdict=verdict, claim=claim, confidence=confidence,
                                    fact_check_url=fact_checks[0] if fact_checks else None,
                                    techniques=misp_tags.named(strings(ext.get("disarm_techniques")),
                                                               misp_tags.misp_disarm_names().get))
        view.report = misp_tags.report_description(str(incident.get("description") or ""), finding)


_OBSERVABLES = {
    "url": ("url", "Network activity", "value"),
    "domain-name": ("domain", "Network activity", "value"),
}


def _add_observable(view: EventView, obj: dict) -> None:
    kind = obj.get("type")
    if kind in _OBSERVABLES and isinstance(obj.get("value"), str):
        misp_type, category, key = _OBSERVABLES[kind]
        view.attributes.append((misp_type, category, obj[key], "where the content appeared"))
    elif kind == "file" and isinstance(obj.get("hashes"), dict) and isinstance(obj["hashes"].get("SHA-256"), str):
        view.attributes.append(("sha256", "Payload delivery", obj["hashes"]["SHA-256"], "media"))
    elif kind == "threat-actor" and isinstance(obj.get("name"), str):
        view.attributes.append(("threat-actor", "Attribution", obj["name"], "suspected source"))
    elif kind == "user-account" and isinstance(obj.get("account_login"), str):
        view.accounts.append((str(obj.get("account_type") or "unknown"), obj["account_login"]))


def misp_event(view: EventView, with_content: bool = True) -> MISPEvent:
    # pymisp is imported here, not at the top: it takes over a second to import, and every
    # `qalqan` process that loads the app would pay it, not only those that build events.
    from pymisp import MISPEvent, MISPObject, MISPOrganisation
    """The pymisp event of a view; without content, only what the manifest holds."""
    event = MISPEvent()
    org = MISPOrganisation()
    org.from_dict(name=view.org_name, uuid=view.org_uuid)
    event.from_dict(uuid=view.uuid, info=view.info, date=view.date, timestamp=view.timestamp,
                    publish_timestamp=view.timestamp, published=True, analysis=view.analysis,
                    threat_level_id=UNDEFINED_THREAT_LEVEL, Orgc=org)
    event.tags = [_tag(name) for name in view.tags]  # distinct already; add_tag compares each with all
    if not with_content:
        return event
    for misp_type, category, value, comment in view.attributes:
        event.add_attribute(misp_type, value, category=category, comment=comment, to_ids=False,
                            uuid=view.derived_uuid(misp_type, value), timestamp=view.timestamp)
    for platform, login in view.accounts:
        account = MISPObject("user-account")
        account.uuid = view.derived_uuid("user-account", platform, login)
        account.timestamp = view.timestamp
        account.add_attribute("username", value=login, uuid=view.derived_uuid("username", platform, login),
                              timestamp=view.timestamp)
        account.add_attribute("account-type", value=platform, uuid=view.derived_uuid("account-type", platform, login),
                              timestamp=view.timestamp)
        event.add_object(account)
    if view.report:
        event.add_event_report("Qalqan incident", view.report, uuid=view.derived_uuid("event-report"),
                               timestamp=view.timestamp)
    return event


def _tag(name: str) -> MISPTag:
    from pymisp import MISPTag
    tag = MISPTag()
    tag.from_dict(name=name)
    return tag


def event_json(view: EventView) -> str:
    return json.dumps(misp_event(view).to_feed(), ensure_ascii=False, separators=(",", ":"))


# -- reading the store ---------------------------------------------------------------

def _report_row(store: Store, feed: Feed, report_id: str) -> dict | None:
    """The latest version of a report in the feed, whatever its TLP; None if absent."""
    return store.one("SELECT e.tlp, o.json FROM feed_entries e INDEXED BY feed_object JOIN objects o"
                     " ON o.id = e.id AND o.version = e.version"
                     " WHERE e.feed = ? AND e.id = ? AND e.type = 'report' AND e.latest = 1 AND e.deleted = 0",
                     [feed.id, report_id])


def _referenced(store: Store, feed: Feed, report_id: str) -> list[tuple[str, dict]]:
    """(TLP, object) of each object the report refers to that is in the feed, any TLP."""
    # CROSS JOIN keeps report_refs the outer loop: a few refs, each one index lookup in the feed.
    rows = store.query("SELECT e.tlp, o.json FROM report_refs r CROSS JOIN feed_entries e INDEXED BY feed_object"
                       " ON e.feed = ? AND e.id = r.ref AND e.latest = 1 AND e.deleted = 0"
                       " JOIN objects o ON o.id = e.id AND o.version = e.version WHERE r.report = ?",
                       [feed.id, report_id])
    return [(r["tlp"], json.loads(r["json"])) for r in rows]


class Orgs:
    """Card names by identity, read once per build."""

    def __init__(self, store: Store):
        self.store, self.names = store, {}

    def name(self, identity: str | None) -> str:
        if not identity:
            return ""
        if identity not in self.names:
            row = self.store.one("SELECT name FROM cards WHERE identity = ?", [identity])
            self.names[identity] = row["name"] if row and row["name"] else ""
        return self.names[identity]


def level_bit(tlp: str) -> int:
    return 1 << TLP_RANK[tlp]


@dataclass
class Carried:
    """An event the feed carries: its view, and the TLP levels (bits of level_bit) of
    what it shows and of what it refers to but leaves out under the feed's ceiling, and
    whose card names it."""

    view: EventView
    shown: int
    hidden: int
    org: str  # the creator's identity id ("" if none)
    org_name: str  # its card's name ("" if no card)


def carried(store: Store, feed: Feed, report_id: str, orgs: Orgs) -> Carried | None:
    """The event of a report; None if the feed does not carry the report (absent, above
    its ceiling, or revoked: a withdrawn report is no event)."""
    row = _report_row(store, feed, report_id)
    if row is None or not may_carry(feed.max_tlp, row["tlp"]):
        return None
    report = json.loads(row["json"])
    if report.get("revoked") is True:
        return None
    shown, hidden, contents = level_bit(row["tlp"]), 0, []
    for tlp, obj in _referenced(store, feed, report_id):
        if may_carry(feed.max_tlp, tlp):
            shown |= level_bit(tlp)
            contents.append(obj)
        else:
            hidden |= level_bit(tlp)
    creator = report.get("created_by_ref") if isinstance(report.get("created_by_ref"), str) else ""
    name = orgs.name(creator)
    return Carried(view_of(report, contents, name), shown, hidden, creator, name)


def event(store: Store, feed: Feed, event_uuid: str) -> str | None:
    """The event JSON of one report of the feed; None if the feed carries no such report."""
    found = carried(store, feed, f"report--{event_uuid}", Orgs(store))
    return event_json(found.view) if found else None


def manifest_record(view: EventView) -> str:
    """The event's value in manifest.json, as JSON."""
    return json.dumps(misp_event(view, with_content=False).manifest[view.uuid], ensure_ascii=False,
                      separators=(",", ":"))


def hash_lines(view: EventView) -> str:
    """The event's lines of hashes.csv: md5 of each attribute value, event uuid."""
    return "".join(f"{hashlib.md5(v.encode('utf-8')).hexdigest()},{view.uuid}\n" for v in view.hash_values())
