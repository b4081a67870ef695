"""What a node says about an incident it holds, its own or a partner's: sightings
(node/sightings.py), opinions (node/opinions.py) and responses. Each is signed by the
node, carries the incident's TLP and goes where policy.feeds_for_reaction says: back to
the incident's creator always, to third parties only when green or clear."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import policy
from .errors import N_, InputError
from .wellknown import TLP_MARKINGS

if TYPE_CHECKING:
    from .home import Node


@dataclass
class Subject:
    """The incident a sighting, an opinion or a response is about."""

    incident: dict
    tlp: str
    own: bool
    creator_peer: str | None  # the configured peer whose card created the incident

    @property
    def id(self) -> str:
        return self.incident["id"]

    @property
    def marking(self) -> list[str]:
        return [TLP_MARKINGS[self.tlp]]


def subject_of(node: "Node", incident_id) -> Subject:
    """The held, not withdrawn incident `incident_id`, or one clear error."""
    row = None
    if isinstance(incident_id, str) and incident_id.startswith("incident--"):
        row = node.store.one("SELECT json, tlp, created_by FROM objects WHERE id = ? AND latest = 1", [incident_id])
    if row is None:
        raise InputError.about("incident", N_("no incident %(id)r is held here"), id=incident_id)
    incident = json.loads(row["json"])
    if incident.get("revoked") is True:
        raise InputError.about("incident", N_("%(id)s was withdrawn by its source"), id=incident_id)
    creator = row["created_by"]
    peer = next((name for name, p in node.config.peers.items() if p.identity and p.identity == creator), None)
    return Subject(incident, row["tlp"], creator == node.config.identity, peer)


def feeds_for(node: "Node", subject: Subject) -> list[str]:
    return policy.feeds_for_reaction(subject.tlp, subject.creator_peer, node.ingest.feed_rules(), subject.own)
