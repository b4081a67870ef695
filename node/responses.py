"""Responses: countermeasures taken against an incident (docs/data-model.md, "Responses").

An analyst records what was done against an incident the node holds, its own or a
partner's: the kind (a stable code of KINDS), when, a description, a link and the DISARM
countermeasures it applies. The node signs a `course-of-action` carrying that in Qalqan's
response extension and a relationship course-of-action `mitigates` incident, both
marked with the incident's TLP and placed in the feeds policy.feeds_for_reaction names
(they follow the incident, and always go back to its author). Every node indexes the
responses it holds, whatever door they came by (node/response_index.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import stix2

from .disarm import Disarm, technique_reference
from .errors import N_, InputError, QalqanError
from .incident import _list, _plain, _text, _url, stix_now
from .incident_index import disinfo_of
from .ingest import OWN, Door, Summary
from .reactions import feeds_for, subject_of
from .signing import sign
from .timefmt import now_us, parse_record_time, taxii_to_us
from .wellknown import RESPONSE_EXT, TLP_MARKINGS

if TYPE_CHECKING:
    from .home import Node

# The kinds of response: stable codes (they travel in the extension), each with its
# label. The list grows; a node shows a code it does not know as it is.
KINDS = {
    "debunk-published": N_("Debunk published"),
    "platform-notified": N_("Platform notified"),
    "content-removed": N_("Content removed"),
    "account-suspended": N_("Account suspended"),
    "press-statement": N_("Press statement"),
    "prebunking": N_("Prebunking"),
    "media-literacy": N_("Media-literacy activity"),
    "other": N_("Other"),
}
FIELDS = ("kind", "at", "description", "url", "countermeasures")
MAX_DESCRIPTION = 20_000
# A response is something done: `at` may be later than the node's clock by this much
# (another machine's clock), no more.
CLOCK_SLACK_US = 10 * 60 * 1_000_000
MITIGATES = "mitigates"


@dataclass
class ResponseRecord:
    kind: str
    taken: str  # STIX timestamp
    description: str
    url: str | None
    countermeasures: list[str]


@dataclass
class ResponseResult:
    response_id: str
    relationship_id: str
    incident_id: str
    summary: Summary


def kind_label(code: str | None) -> str:
    return KINDS.get(code or "", code or "—")


def validate(data, disarm: Disarm, now: int | None = None) -> ResponseRecord:
    """Check a response record; InputError naming the first bad field."""
    if not isinstance(data, dict):
        raise InputError("a response record must be a mapping of field names to values")
    for key in data:
        if key not in FIELDS:
            raise InputError(f"{key}: unknown field (known: {', '.join(FIELDS)})")
    kind = data.get("kind")
    if kind in (None, ""):
        raise InputError("kind: this field is required")
    if kind not in KINDS:
        raise InputError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    if data.get("at") in (None, ""):
        raise InputError("at: this field is required (when the response was taken)")
    taken = parse_record_time(data["at"], "at")
    if taxii_to_us(taken) > (now_us() if now is None else now) + CLOCK_SLACK_US:
        raise InputError(f"at: {taken} is later than now; a response is recorded once taken "
                         "(a time without a zone is UTC)")
    description = _text(data, "description", True, MAX_DESCRIPTION)
    url = data.get("url")
    url = _url(url, "url") if url not in (None, "") else None
    countermeasures = _list(data, "countermeasures")
    for cid in countermeasures:
        disarm.check_countermeasure(cid)
    return ResponseRecord(kind, taken, description, url, list(dict.fromkeys(countermeasures)))


# -- the incident responded to -----------------------------------------------------------

# -- STIX ----------------------------------------------------------------------------------

def response_name(record: ResponseRecord, incident: dict) -> str:
    """The course-of-action's name: importers key a course of action on its name
    (OpenCTI does), so it names the incident and the time, not only the kind."""
    subject = disinfo_of(incident).get("case_id")
    if not isinstance(subject, str) or not subject:
        name = incident.get("name")
        subject = name[:80] if isinstance(name, str) and name else incident["id"]
    return f"{kind_label(record.kind)}: {subject}, {record.taken[:16].replace('T', ' ')} UTC"


def build(record: ResponseRecord, incident: dict, tlp: str, node_identity: str) -> list[dict]:
    """The unsigned course-of-action and its `mitigates` relationship."""
    now = stix_now()
    common = {"created_by_ref": node_identity, "created": now, "modified": now,
              "object_marking_refs": [TLP_MARKINGS[tlp]]}
    ext = {"extension_type": "property-extension", "kind": record.kind, "taken": record.taken,
           "incident_ref": incident["id"]}
    refs = [technique_reference(cid) for cid in record.countermeasures]
    if record.url:
        ext["url"] = record.url
        refs.append({"source_name": "response", "url": record.url})
    if record.countermeasures:
        ext["countermeasures"] = record.countermeasures
    action = _plain(stix2.CourseOfAction(name=response_name(record, incident), description=record.description,
                                         extensions={RESPONSE_EXT: ext}, **({"external_references": refs}
                                                                           if refs else {}), **common))
    relation = _plain(stix2.Relationship(relationship_type=MITIGATES, source_ref=action["id"],
                                         target_ref=incident["id"], **common))
    return [action, relation]


# -- recording -----------------------------------------------------------------------------

def add_response(node: "Node", incident_id: str, data, by: str = "cli") -> ResponseResult:
    """Validate, build, sign and store a response; nothing is stored if anything is wrong.
    `by` (the web account, or "cli") is kept in this node's index only, never shared."""
    from .response_index import set_recorded_by
    target = subject_of(node, incident_id)
    record = validate(data, node.disarm)
    objects = [sign(o, node.signing_key) for o in build(record, target.incident, target.tlp, node.config.identity)]
    summary = node.ingest.run(objects, Door(OWN, share=feeds_for(node, target)), batch=len(objects) + 1)
    if summary.failures:
        raise QalqanError("the response could not be stored: " + summary.failures[0].reason)
    with node.store.transaction():
        set_recorded_by(node.store.conn, objects[0]["id"], by)
    return ResponseResult(objects[0]["id"], objects[1]["id"], incident_id, summary)
