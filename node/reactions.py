"""What a node says about an incident it holds, its own or a partner's: sightings
(node/sightings.py), opinions (node/opinions.py) and responses. Each is signed by the
node, carries the incident's TLP and goes where policy.feeds_for_reaction says: where the
incident is shared here, and back to its creator always (above green, to it alone)."""
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
    creator_peers: list[str]  # the configured peers whose card created the incident

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
    peers = [name for name, p in node.config.peers.items() if creator is not None and p.identity == creator]
    return Subject(incident, row["tlp"], creator == node.config.identity, peers)


def feed_names_holding(node: "Node", object_id: str) -> list[str]:
    """The names of this node's feeds that carry `object_id` now."""
    names = {feed.id: name for name, feed in node.config.feeds.items()}
    return sorted(names[f] for f in node.store.feeds_of(object_id) if f in names)


def feeds_for(node: "Node", subject: Subject) -> list[str]:
    """The feed names a reaction to `subject` goes to (policy.feeds_for_reaction)."""
    here = feed_names_holding(node, subject.id)
    return policy.feeds_for_reaction(subject.tlp, here, subject.creator_peers, node.config.feed_rules(), subject.own)
