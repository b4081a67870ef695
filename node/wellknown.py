"""Objects every node ships identically and never signs (docs/signing.md).

The TLP 2.0 markings as OASIS publishes them, Qalqan's own identity, and our
extension definitions. On receipt they are accepted only when byte-identical in
canonical form to the copies here.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from .signing import SIGNATURE_EXT, canonical

SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"

QALQAN_IDENTITY_ID = "identity--d8bd5a9a-4716-44aa-9813-62251936531e"
NODE_KEYS_EXT = "extension-definition--c5ae75e5-432e-4f1b-b912-5676bc4f66e2"
DISINFO_EXT = "extension-definition--98729189-cdcd-48d3-84e1-9d141d145eed"
# Top-level first_seen/last_seen on an incident, where OpenCTI reads them.
INCIDENT_TIMES_EXT = "extension-definition--349af914-a86d-44ac-b70c-8bb11c480fbe"
# OpenCTI's FIMI object types, declared as new SDOs (feeds with `profile: opencti`).
NARRATIVE_EXT = "extension-definition--1eadfb10-307e-478f-9cd0-e1449209e2a0"
CHANNEL_EXT = "extension-definition--69f4c98f-9590-4b59-a482-a408f15bf239"
# A response (countermeasure) taken against an incident, on a course-of-action (node/responses.py).
RESPONSE_EXT = "extension-definition--06343242-c421-4ab4-8d82-49cce8a45ced"
INCIDENT_CORE_EXT = "extension-definition--ef765651-680c-498d-9894-99799f2fa126"
TLP2_EXT = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
SCO_NAMESPACE = "00abedb4-aa42-466c-9c01-fed23315a9b7"

TLP_MARKINGS = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP_OF_MARKING = {mid: level for level, mid in TLP_MARKINGS.items()}

_FIXED_TIME = "2025-01-01T00:00:00.000Z"


def _tlp_marking(level: str) -> dict:
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP_MARKINGS[level],
        "created": "2022-10-01T00:00:00.000Z",
        "name": f"TLP:{level.upper()}",
        "extensions": {TLP2_EXT: {"extension_type": "property-extension", "tlp_2_0": level}},
    }


def _qalqan_identity() -> dict:
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": QALQAN_IDENTITY_ID,
        "created": _FIXED_TIME,
        "modified": _FIXED_TIME,
        "name": "Qalqan",
        "description": "The Qalqan project, author of the Qalqan STIX extensions.",
        "identity_class": "organization",
    }


def _extension_definition(ext_id: str, name: str, schema_file: str, description: str,
                          kind: str = "property-extension", properties: tuple[str, ...] = ()) -> dict:
    definition = {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": ext_id,
        "created_by_ref": QALQAN_IDENTITY_ID,
        "created": _FIXED_TIME,
        "modified": _FIXED_TIME,
        "name": name,
        "description": description,
        "schema": f"JSON Schema {schema_file}, shipped in the schemas/ folder of Qalqan",
        "version": "1.0.0",
        "extension_types": [kind],
    }
    if properties:  # a toplevel-property-extension names the properties it adds
        definition["extension_properties"] = list(properties)
    return definition


@lru_cache(maxsize=1)
def well_known_objects() -> tuple[dict, ...]:
    return (
        *(_tlp_marking(level) for level in TLP_MARKINGS),
        _qalqan_identity(),
        _extension_definition(
            SIGNATURE_EXT, "Qalqan object signature", "signature-v1.json",
            "Ed25519 signature of the object by the node that created it.",
        ),
        _extension_definition(
            NODE_KEYS_EXT, "Qalqan node keys", "node-keys-v1.json",
            "Public keys and country of a Qalqan node, carried on its identity (its card).",
        ),
        _extension_definition(
            DISINFO_EXT, "Qalqan disinformation incident", "disinformation-incident-v1.json",
            "Claim, verdict, platforms, languages and DISARM techniques of a disinformation incident.",
        ),
        _extension_definition(
            INCIDENT_TIMES_EXT, "Qalqan incident first and last seen", "incident-times-v1.json",
            "Top-level first_seen and last_seen (STIX timestamps) on an incident: when the content first "
            "and last appeared, where OpenCTI and other importers read them.",
            kind="toplevel-property-extension", properties=("first_seen", "last_seen"),
        ),
        _extension_definition(
            RESPONSE_EXT, "Qalqan response to a disinformation incident", "response-v1.json",
            "A countermeasure taken against a disinformation incident (debunk published, platform notified, "
            "content removed, ...): its kind, when it was taken, the incident, a link and DISARM countermeasure ids.",
        ),
        _extension_definition(
            NARRATIVE_EXT, "Narrative (OpenCTI FIMI)", "narrative-v1.json",
            "A new SDO of type 'narrative' as OpenCTI defines it: a storyline that disinformation pushes "
            "(name, description). Qalqan makes one of an incident's claim.", kind="new-sdo",
        ),
        _extension_definition(
            CHANNEL_EXT, "Channel (OpenCTI FIMI)", "channel-v1.json",
            "A new SDO of type 'channel' as OpenCTI defines it: an outlet that spreads content (name, "
            "channel_types). Qalqan makes one of each account an incident records.", kind="new-sdo",
        ),
    )


@lru_cache(maxsize=1)
def well_known_canonical() -> dict[str, bytes]:
    """id → canonical bytes of the built-in copy."""
    return {obj["id"]: canonical(obj) for obj in well_known_objects()}


@lru_cache(maxsize=None)
def schema(name: str) -> dict:
    return json.loads((SCHEMAS_DIR / name).read_text("utf-8"))


EXTENSION_SCHEMAS = {
    SIGNATURE_EXT: "signature-v1.json",
    NODE_KEYS_EXT: "node-keys-v1.json",
    DISINFO_EXT: "disinformation-incident-v1.json",
    INCIDENT_TIMES_EXT: "incident-times-v1.json",
    RESPONSE_EXT: "response-v1.json",
    NARRATIVE_EXT: "narrative-v1.json",
    CHANNEL_EXT: "channel-v1.json",
}
