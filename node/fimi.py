"""OpenCTI's FIMI objects for an incident (docs/data-model.md, "Feeds for OpenCTI").

OpenCTI models foreign information manipulation with two object types of its own,
`narrative` and `channel`. An incident's claim becomes a narrative, each account that
spread it a channel (`<login> (<platform>)`, `channel_types: [platform]`), related the
way OpenCTI relates them: incident uses narrative, incident uses channel, channel uses
narrative, channel belongs-to the user-account. They are declared as new SDOs
(node/wellknown.py), signed like every object, kept out of the report's `object_refs`,
and policy.profile_of sends them only to feeds with `profile: opencti`.
"""
from __future__ import annotations

import json
from typing import Callable

import stix2

from .platforms import account_type
from .wellknown import CHANNEL_EXT, NARRATIVE_EXT

MAX_NAME = 200


def fimi_objects(claim: str | None, accounts: list[dict], incident_id: str, scos: list[dict],
                 shared: Callable[[str, str, Callable[[str], dict]], dict], common: dict) -> list[dict]:
    """`shared(type, key, make)` gives the node's object for a key (as build does for
    locations), so a claim or an account recorded again is the same narrative or channel."""
    objects: list[dict] = []

    def relationship(kind: str, source: str, target: str, **id_) -> dict:
        # allow_custom: the stix2 library refuses references to types it does not know
        return json.loads(stix2.Relationship(relationship_type=kind, source_ref=source, target_ref=target,
                                             allow_custom=True, **id_, **common).serialize())

    def relate(kind: str, source: str, target: str) -> None:
        if source == incident_id:
            objects.append(relationship(kind, source, target))
        else:  # between shared objects: one relationship, whichever incidents state it
            objects.append(shared("relationship", f"{kind} {source} {target}",
                                  lambda oid: relationship(kind, source, target, id=oid)))

    narrative = None
    if claim:
        narrative = shared("narrative", claim.casefold(), lambda oid: _sdo(
            "narrative", oid, NARRATIVE_EXT, common, name=_name(claim), description=claim))
        objects.append(narrative)
        relate("uses", incident_id, narrative["id"])
    user_accounts = {(s["account_type"], s["account_login"]): s["id"] for s in scos if s["type"] == "user-account"}
    for account in accounts:
        platform, login = account["platform"], account["login"]
        channel = shared("channel", f"{platform}:{login}".casefold(), lambda oid: _sdo(
            "channel", oid, CHANNEL_EXT, common, name=f"{login} ({platform})", channel_types=[platform]))
        objects.append(channel)
        relate("uses", incident_id, channel["id"])
        if narrative is not None:
            relate("uses", channel["id"], narrative["id"])
        relate("belongs-to", channel["id"], user_accounts[(account_type(platform), login)])
    return objects


def _sdo(stix_type: str, oid: str, extension: str, common: dict, **properties) -> dict:
    return {"type": stix_type, "spec_version": "2.1", "id": oid, **common, **properties,
            "extensions": {extension: {"extension_type": "new-sdo"}}}


def _name(text: str) -> str:
    """A narrative's name: the claim on one line, cut at a word near MAX_NAME characters."""
    line = " ".join(text.split())
    if len(line) <= MAX_NAME:
        return line
    return line[:MAX_NAME].rsplit(" ", 1)[0] + "…"
