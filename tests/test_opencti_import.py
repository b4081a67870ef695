"""What OpenCTI makes of a Qalqan feed, by pycti's own code.

A served node with the full DISARM bundle in config, an organisation on its card, and
two feeds readable by uz: `regional` (plain) and `opencti` (`profile: opencti`). The
feeds are read with taxii2-client as OpenCTI's TAXII 2 connector reads them; what it
gets goes through pycti's bundle splitter (as the connector helper sends it, dropping
dangling references) and through pycti's STIX import (`stix2.import_bundle`), which maps
every object onto the GraphQL mutation the OpenCTI platform would receive
(opencti_fixtures.GraphqlRecorder records them)."""
from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import pytest
from stix2validator import ValidationOptions, validate_instance
from taxii2client.v21 import as_pages

from conftest import incident_record
from node import access
from node.home import Node
from nodes import edit_config, edit_feed, serving_in_process
from opencti_fixtures import GraphqlRecorder, run_pycti
from taxii_fixtures import build_world

REFERENCE = Path(__file__).resolve().parent.parent / "node" / "data" / "disarm-reference.json"
MINISTRY = "Ministry of Culture and Information of the Republic of Kazakhstan"
DISARM_AUTHOR = "identity--f1a0f560-2d9e-4c5d-bf47-7e96e805de82"
DISARM_MARKING = "marking-definition--8c9e2257-1c62-4d3f-a5b5-2d5e3b9c4a01"


def disarm_bundle(path: Path) -> Path:
    """A DISARM-shaped release: the built-in reference's techniques as attack-patterns
    by the DISARM Foundation under its statement marking, as DISARM publishes them."""
    ref = json.loads(REFERENCE.read_text("utf-8"))
    when = "2030-01-01T00:00:00.000Z"
    objects = [
        {"type": "identity", "spec_version": "2.1", "id": DISARM_AUTHOR, "created": when, "modified": when,
         "name": "DISARM Foundation", "identity_class": "organization"},
        {"type": "marking-definition", "spec_version": "2.1", "id": DISARM_MARKING, "created": when,
         "definition_type": "statement", "definition": {"statement": "CC BY-SA 4.0 DISARM Foundation"}},
        *({"type": "x-mitre-tactic", "spec_version": "2.1", "id": t["stix_id"], "created": when, "modified": when,
           "name": t["name"], "x_mitre_shortname": t["shortname"],
           "external_references": [{"source_name": "DISARM", "external_id": t["id"]}]} for t in ref["tactics"]),
        *({"type": "attack-pattern", "spec_version": "2.1", "id": t["stix_id"], "created": when, "modified": when,
           "created_by_ref": DISARM_AUTHOR, "object_marking_refs": [DISARM_MARKING], "name": t["name"],
           "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": p} for p in t["tactics"]],
           "external_references": [{"source_name": "mitre-attack", "external_id": t["id"],
                                    "url": f"https://github.com/DISARMFoundation/DISARMframeworks/blob/main/"
                                           f"generated_pages/techniques/{t['id']}.md"}]}
          for t in ref["techniques"]),
    ]
    path.write_text(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}, indent=1))
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("opencti-import")
    release = disarm_bundle(base / "DISARM.json")
    world = build_world(base)
    edit_config(world.home, "disarm", str(release))
    node = Node(world.home)
    node.set_organisation(MINISTRY)
    access.add_feed(node, "opencti", "green", title="For OpenCTI", profile="opencti")
    edit_feed(world.home, "opencti", readers=["uz"])
    node = Node(world.home)
    result = node.add_incident(incident_record(share=["regional", "opencti"], last_seen="2026-11-22T10:00:00Z"))
    world.feeds = {name: feed.id for name, feed in node.config.feeds.items()}
    with serving_in_process(world.home) as url:
        world.base = url
        yield world, result, release


def feed_objects(world, feed: str) -> list[dict]:
    """All objects of a feed, paged like OpenCTI's connector (taxii2-client, next)."""
    collection = world.collection(feed, "uz")
    return [o for page in as_pages(collection.get_objects, per_request=7) for o in page.get("objects", [])]


def split(objects: list[dict]) -> tuple[int, list[dict]]:
    """pycti's splitter as the connector helper runs it: dangling references dropped."""
    result = run_pycti("split", objects)
    return result["incompatible"], result["kept"]


def test_the_plain_feed_stays_strict_stix_and_the_opencti_feed_adds_fimi_and_disarm_objects(world):
    world, _, _ = world
    plain = {o["type"] for o in feed_objects(world, "regional")}
    extra = {o["type"] for o in feed_objects(world, "opencti")}
    assert not plain & {"narrative", "channel", "attack-pattern"}
    assert {"narrative", "channel", "attack-pattern", "incident", "report"} <= extra
    for obj in feed_objects(world, "regional"):
        assert validate_instance(obj, ValidationOptions(strict=False)).is_valid, obj["type"]


def test_the_disarm_objects_are_the_release_unchanged_and_unsigned(world):
    world, result, release = world
    served = {o["id"]: o for o in feed_objects(world, "opencti")}
    in_release = {o["id"]: o for o in json.loads(release.read_text())["objects"]}
    node = Node(world.home)
    techniques = [node.disarm.techniques[t].stix_id for t in ("T0023", "T0086.002")]
    for oid in [*techniques, DISARM_AUTHOR, DISARM_MARKING]:
        assert served[oid] == in_release[oid]
        assert "extensions" not in served[oid]
    assert not [o for o in served.values() if o["type"] == "attack-pattern" and o["id"] not in techniques]


def test_pycti_splitter_keeps_every_disarm_relationship_only_where_the_attack_patterns_travel(world):
    world, _, _ = world
    def kept_uses(objects):
        _, kept = split(objects)
        return sorted(o["external_references"][0]["external_id"] for o in kept
                      if o["type"] == "relationship" and o.get("target_ref", "").startswith("attack-pattern--"))
    assert kept_uses(feed_objects(world, "opencti")) == ["T0023", "T0086.002"]
    assert kept_uses(feed_objects(world, "regional")) == []  # no attack-patterns there: dropped as dangling


def test_pycti_import_names_countries_the_author_times_techniques_narrative_and_channel(world):
    world, result, _ = world
    objects = feed_objects(world, "opencti")
    card = next(o for o in objects if o["type"] == "identity" and o["name"] == MINISTRY)
    recorder = GraphqlRecorder(run_pycti("import", objects)["mutations"])
    organisations = {i["stix_id"]: i["name"] for i in recorder.inputs("OrganizationAdd")}
    assert organisations[card["id"]] == MINISTRY
    countries = {i["name"] for i in recorder.inputs("LocationAdd") if i["type"] == "Country"}
    assert countries == {"Kazakhstan", "Uzbekistan"}
    [incident] = recorder.inputs("IncidentAdd")
    assert incident["createdBy"] == card["id"]
    assert incident["first_seen"] == "2026-11-20T08:00:00.000Z" and incident["last_seen"] == "2026-11-22T10:00:00.000Z"
    patterns = {i["x_mitre_id"]: i["name"] for i in recorder.inputs("AttackPatternAdd")}
    assert set(patterns) == {"T0023", "T0086.002"}
    [narrative] = recorder.inputs("NarrativeAdd")
    assert narrative["name"] == "The border closes tomorrow." and narrative["createdBy"] == card["id"]
    [channel] = recorder.inputs("ChannelAdd")
    assert channel["name"] == "@fakechannel (telegram)" and channel["channel_types"] == ["telegram"]
    relations = {(r["relationship_type"], r["fromId"].split("--")[0], r["toId"].split("--")[0])
                 for r in recorder.inputs("StixCoreRelationshipAdd")}
    assert {("uses", "incident", "attack-pattern"), ("targets", "incident", "location"),
            ("uses", "incident", "narrative"), ("uses", "incident", "channel"), ("uses", "channel", "narrative"),
            ("belongs-to", "channel", "user-account")} <= relations


def test_a_disarm_release_that_renames_a_technique_leaves_every_relationship_resolvable(tmp_path):
    """DISARM gave 81 techniques new STIX ids in 2024: an incident recorded under the old
    release keeps its attack-pattern in the feed, the new one gets the new object, and
    both relationships name the technique by id."""
    old = disarm_bundle(tmp_path / "DISARM-old.json")
    bundle = json.loads(old.read_text())
    [pattern] = [o for o in bundle["objects"] if o["type"] == "attack-pattern"
                 and o["external_references"][0]["external_id"] == "T0023"]
    old_id, pattern["id"] = pattern["id"], f"attack-pattern--{uuid.uuid4()}"
    new = tmp_path / "DISARM-new.json"
    new.write_text(json.dumps(bundle))
    world = build_world(tmp_path)
    access.add_feed(Node(world.home), "opencti", "green", title="For OpenCTI", profile="opencti")
    for release in (old, new):
        edit_config(world.home, "disarm", str(release))
        Node(world.home).add_incident(incident_record(share=["opencti"], disarm=["T0023"]))
    out = io.StringIO()
    Node(world.home).export(out, feed="opencti")
    objects = json.loads(out.getvalue())["objects"]
    held = {o["id"]: o for o in objects}
    uses = [o for o in objects if o["type"] == "relationship" and o["target_ref"].startswith("attack-pattern--")]
    assert sorted(r["target_ref"] for r in uses) == sorted([old_id, pattern["id"]])
    for relationship in uses:
        assert {"source_name": "DISARM", "external_id": "T0023"} in relationship["external_references"]
        target = held[relationship["target_ref"]]
        assert target["external_references"][0]["external_id"] == "T0023"
    _, kept = split(objects)
    assert sorted(o["target_ref"] for o in kept if o["id"] in {r["id"] for r in uses}) == sorted(
        [old_id, pattern["id"]])
