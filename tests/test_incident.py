"""Incident record → STIX objects: mapping, validity, and bad input."""
import json

import pytest
from stix2validator import ValidationOptions, validate_instance

from node.errors import InputError
from node.wellknown import DISINFO_EXT, INCIDENT_CORE_EXT, TLP_MARKINGS

from conftest import incident_record


def objects_of(node, report_id):
    report = json.loads(node.store.object_json(report_id))
    return report, {ref: json.loads(node.store.object_json(ref)) for ref in report["object_refs"]}


def test_an_incident_maps_onto_the_documented_stix_objects(kz):
    result = kz.add_incident(incident_record())
    report, refs = objects_of(kz, result.report_id)
    types = sorted(o["type"] for o in refs.values())
    assert types.count("relationship") == 2 + 2 + 1  # two DISARM uses, two targets, one attributed-to
    assert {"incident", "observed-data", "url", "domain-name", "user-account", "file", "location",
            "threat-actor"} <= set(types)
    incident = refs[result.incident_id]
    ext = incident["extensions"][DISINFO_EXT]
    assert ext["verdict"] == "fabricated" and ext["disarm_techniques"] == ["T0023", "T0086.002"]
    assert ext["platforms"] == ["telegram", "tiktok"] and ext["target_countries"] == ["KZ", "UZ"]
    assert ext["languages"] == ["ru"] and ext["case_id"].startswith("KZ-")
    assert incident["extensions"][INCIDENT_CORE_EXT]["determination"] == "confirmed"
    assert report["report_types"] == ["threat-report"]
    for obj in [report, *refs.values()]:
        assert obj["object_marking_refs"] in ([TLP_MARKINGS["green"]], [TLP_MARKINGS["clear"]])
    uses = [o for o in refs.values() if o["type"] == "relationship" and o["relationship_type"] == "uses"]
    assert {u["target_ref"] for u in uses} == {kz.disarm.techniques["T0023"].stix_id,
                                               kz.disarm.techniques["T0086.002"].stix_id}


def test_stix2_validator_finds_no_errors_in_an_exported_incident(kz, tmp_path):
    kz.add_incident(incident_record())
    bundle = tmp_path / "bundle.json"
    with bundle.open("w") as out:
        kz.export(out)
    data = json.loads(bundle.read_text())
    for obj in data["objects"]:
        result = validate_instance(obj, ValidationOptions(strict=False))
        assert result.is_valid, (obj["type"], [str(e) for e in result.errors])


def test_shared_locations_are_reused_not_versioned(kz):
    kz.add_incident(incident_record())
    kz.add_incident(incident_record(title="Second"))
    rows = kz.store.query("SELECT id FROM objects WHERE type = 'location'")
    assert len(rows) == 2


def test_an_unquoted_yaml_false_is_the_verdict_false(kz):
    result = kz.add_incident(incident_record(verdict=False))
    incident = json.loads(kz.store.object_json(result.incident_id))
    assert incident["extensions"][DISINFO_EXT]["verdict"] == "false"


@pytest.mark.parametrize("overrides, field", [
    ({"title": None}, "title"),
    ({"summary": "  "}, "summary"),
    ({"language": "Russian"}, "language"),
    ({"first_seen": "yesterday"}, "first_seen"),
    ({"first_seen": "2026-02-30"}, "first_seen"),
    ({"last_seen": "2026-01-01T00:00:00Z"}, "last_seen"),
    ({"verdict": "fake"}, "verdict"),
    ({"tlp": "purple"}, "tlp"),
    ({"urls": "https://x.example"}, "urls"),
    ({"urls": ["ftp://x.example/a"]}, "urls"),
    ({"accounts": [{"platform": "telegram"}]}, "accounts"),
    ({"media_sha256": ["abc"]}, "media_sha256"),
    ({"confidence": 101}, "confidence"),
    ({"disarm": ["T9999"]}, "disarm"),
    ({"disarm": ["X1"]}, "disarm"),
    ({"target_countries": ["Kazakhstan"]}, "target_countries"),
    ({"target_countries": ["XK"]}, "target_countries"),
    ({"share": ["nowhere"]}, "share"),
    ({"colour": "red"}, "colour"),
])
def test_bad_fields_are_named_and_nothing_is_stored(kz, overrides, field):
    before = kz.store.one("SELECT COUNT(*) AS n FROM objects")["n"]
    with pytest.raises(InputError) as err:
        kz.add_incident(incident_record(**overrides))
    assert err.value.message.startswith(f"{field}:")
    assert kz.store.one("SELECT COUNT(*) AS n FROM objects")["n"] == before


def test_a_fresh_home_knows_disarm_and_rejects_an_unknown_technique(make_home):
    from node.home import Node
    node = Node(make_home("kg", "KG"))
    assert node.disarm.source == "built-in"
    with pytest.raises(InputError, match="^disarm: T9999 is not a technique"):
        node.add_incident(incident_record(disarm=["T9999"]))
    with pytest.raises(InputError, match="^disarm:"):
        node.add_incident(incident_record(disarm=["T99"]))
    result = node.add_incident(incident_record(disarm=["T0086.002"]))
    incident = json.loads(node.store.object_json(result.incident_id))
    assert incident["extensions"][DISINFO_EXT]["disarm_techniques"] == ["T0086.002"]


def test_the_disarm_index_groups_techniques_under_their_own_tactic_in_framework_order(kz):
    groups = dict(kz.disarm.by_tactic())
    ids_under = {tactic: {t.id for t in techniques} for tactic, techniques in groups.items()}
    assert "T0023" in ids_under["Develop Content"] and "T0002" in ids_under["Plan Objectives"]
    assert "T0023" not in ids_under["Plan Objectives"]
    assert list(groups)[:2] == ["Plan Strategy", "Plan Objectives"]
    for tactic, techniques in groups.items():
        assert all(t.tactics[0] == tactic for t in techniques)


def test_emitted_extensions_validate_against_their_json_schemas(kz):
    import jsonschema
    from node.signing import SIGNATURE_EXT
    from node.wellknown import CHANNEL_EXT, EXTENSION_SCHEMAS, INCIDENT_TIMES_EXT, NARRATIVE_EXT, NODE_KEYS_EXT, schema
    kz.add_incident(incident_record(claim="x", last_seen="2026-11-21T00:00:00Z"))
    seen = set()
    for row in kz.store.query("SELECT json FROM objects WHERE origin = 'own'"):
        for ext_id, content in json.loads(row["json"]).get("extensions", {}).items():
            if ext_id in EXTENSION_SCHEMAS:
                jsonschema.validate(content, schema(EXTENSION_SCHEMAS[ext_id]),
                                    format_checker=jsonschema.FormatChecker())
                seen.add(ext_id)
    assert seen == {SIGNATURE_EXT, NODE_KEYS_EXT, DISINFO_EXT, INCIDENT_TIMES_EXT, NARRATIVE_EXT, CHANNEL_EXT}


@pytest.mark.parametrize("typed, stored", [
    ("2026-11-29 07:45", "2026-11-29T07:45:00.000Z"),
    ("2026-11-29T07:45", "2026-11-29T07:45:00.000Z"),  # a browser's datetime-local field
    ("2026-11-29 07:45:30", "2026-11-29T07:45:30.000Z"),
    ("2026-11-29", "2026-11-29T00:00:00.000Z"),
    ("2026-11-29T07:45:00+05:00", "2026-11-29T02:45:00.000Z"),
])
def test_first_seen_takes_a_date_a_date_and_time_without_zone_as_utc_or_rfc_3339(kz, typed, stored):
    result = kz.add_incident(incident_record(first_seen=typed))
    incident = json.loads(kz.store.object_json(result.incident_id))
    assert incident["extensions"][DISINFO_EXT]["first_seen"] == stored


@pytest.mark.parametrize("typed", ["2026-11-29 25:45", "2026-02-30 07:45", "2026-11-29 7:45", "2026-11-29 07"])
def test_a_date_and_time_that_does_not_exist_or_is_cut_is_named(kz, typed):
    with pytest.raises(InputError) as err:
        kz.add_incident(incident_record(first_seen=typed))
    assert err.value.message.startswith("first_seen:")
