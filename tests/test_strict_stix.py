"""stix2-validator on every object type a node emits: no error, and with --strict only
the advisories docs/data-model.md ("Strict validation") lists and justifies, each of
which still occurs."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from stix2validator import ValidationOptions, validate_instance

from conftest import incident_record
from node.home import Node, init_home

DOC = Path(__file__).resolve().parent.parent / "docs" / "data-model.md"
EMITTED_TYPES = {"identity", "incident", "location", "observed-data", "relationship", "report", "threat-actor",
                 "url", "domain-name", "user-account", "file", "marking-definition", "extension-definition",
                 "narrative", "channel", "course-of-action"}
ADVISORY = re.compile(r"\{(\d+)\}")


@pytest.fixture(scope="module")
def emitted(tmp_path_factory) -> list[dict]:
    """Every object a node with an organisation holds after a fully filled incident with
    accounts on platforms the account-type vocabulary has and has not, and a fully filled
    response to it (feeds and exports serve these stored bytes)."""
    home = tmp_path_factory.mktemp("strict") / "kz"
    init_home(home, "kz", "KZ", organisation="Ministry of Culture and Information of the Republic of Kazakhstan")
    node = Node(home)
    incident = node.add_incident(incident_record(
        last_seen="2026-11-22T10:00:00Z", target_countries=["KZ", "UZ", "AQ"],
        accounts=[{"platform": "telegram", "login": "@fakechannel"}, {"platform": "x", "login": "fake_x"},
                  {"platform": "facebook", "login": "fake.page"}])).incident_id
    node.add_response(incident, {"kind": "debunk-published", "at": "2026-11-21T09:30:00Z", "description": "Debunked.",
                                 "url": "https://factcheck.example.kz/border", "countermeasures": ["C00125"]})
    return [json.loads(row["json"]) for row in node.store.query("SELECT json FROM objects")]


def documented_advisories() -> set[tuple[str, str]]:
    section = DOC.read_text("utf-8").split("## Strict validation", 1)[1].split("\n## ", 1)[0]
    return {(m[1], m[2]) for m in re.finditer(r"^\| (\d+) \| ([a-z-]+) \|", section, re.M)}


def test_every_emitted_type_is_covered(emitted):
    assert {o["type"] for o in emitted} == EMITTED_TYPES


def test_no_object_has_a_validation_error(emitted):
    for obj in emitted:
        result = validate_instance(obj, ValidationOptions(strict=False))
        assert result.is_valid and not result.errors, (obj["type"], [str(e) for e in result.errors])


def test_strict_leaves_only_the_documented_advisories_and_each_still_occurs(emitted):
    found = set()
    for obj in emitted:
        for error in validate_instance(obj, ValidationOptions(strict=True)).errors:
            code = ADVISORY.search(str(error))
            assert code, str(error)
            found.add((code[1], obj["type"]))
    documented = documented_advisories()
    assert found - documented == set(), "undocumented strict advisories"
    assert documented - found == set(), "documented advisories that no longer occur"


def test_what_importers_key_on_is_filled(emitted):
    by_type: dict[str, list[dict]] = {}
    for obj in emitted:
        by_type.setdefault(obj["type"], []).append(obj)
    locations = {o["country"]: o for o in by_type["location"]}
    assert locations["KZ"]["name"] == "Kazakhstan" and locations["KZ"]["region"] == "central-asia"
    assert locations["UZ"]["name"] == "Uzbekistan"
    assert locations["AQ"]["name"] == "Antarctica" and locations["AQ"]["region"] == "antarctica"
    accounts = {o["account_login"]: o["account_type"] for o in by_type["user-account"]}
    assert accounts == {"@fakechannel": "telegram", "fake_x": "twitter", "fake.page": "facebook"}
    incident = by_type["incident"][0]
    assert incident["first_seen"] == "2026-11-20T08:00:00.000Z" and incident["last_seen"] == "2026-11-22T10:00:00.000Z"
    cards = [o for o in by_type["identity"] if o["id"] == incident["created_by_ref"]]
    assert cards[0]["name"] == "Ministry of Culture and Information of the Republic of Kazakhstan"
    uses = [o for o in by_type["relationship"] if o["target_ref"].startswith("attack-pattern--")]
    assert sorted(r["external_references"][0]["external_id"] for r in uses) == ["T0023", "T0086.002"]
    assert all(r["external_references"][0]["source_name"] == "DISARM" for r in uses)
