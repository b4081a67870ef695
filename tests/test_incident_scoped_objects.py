"""Objects an incident shares with the node's other incidents (locations, threat actors):
they go only where the incident goes, and no one else can plant one under their id."""
import json
import stat
import subprocess
import sys
import uuid

import pytest

from node import object_ids
from node.errors import ConfigError
from node.ingest import PEER, Door
from node.signing import sign
from node.wellknown import TLP_MARKINGS
from conftest import incident_record, set_feed


def feed_entries(node) -> set[tuple[str, str]]:
    return {(r["feed"], r["id"]) for r in node.store.query("SELECT feed, id FROM feed_entries")}


def refs_of_type(node, report_id: str, stix_type: str) -> list[dict]:
    report = json.loads(node.store.object_json(report_id))
    return [json.loads(node.store.object_json(ref)) for ref in report["object_refs"]
            if ref.startswith(stix_type + "--")]


@pytest.mark.parametrize("tlp", ["red", "amber+strict"])
def test_an_incident_that_never_leaves_the_node_publishes_nothing_it_created(kz, tlp):
    before = feed_entries(kz)
    kz.add_incident(incident_record(tlp=tlp, target_countries=["TM", "HU"], threat_actor="Quiet network"))
    assert feed_entries(kz) == before


def test_the_form_default_tlp_red_publishes_nothing_either(kz):
    from conftest import set_config
    set_config(kz.home, "default_tlp", "red")
    from node.home import Node
    node = Node(kz.home)
    before = feed_entries(node)
    record = incident_record(target_countries=["AZ"], threat_actor="Another network")
    del record["tlp"]
    node.add_incident(record)
    assert feed_entries(node) == before


def test_a_location_carries_the_incidents_tlp_and_enters_only_its_feeds(kz):
    result = kz.add_incident(incident_record(tlp="green", target_countries=["KG"]))
    [location] = refs_of_type(kz, result.report_id, "location")
    assert location["object_marking_refs"] == [TLP_MARKINGS["green"]]
    feeds = {r["feed"] for r in kz.store.query("SELECT feed FROM feed_entries WHERE id = ?", [location["id"]])}
    incident_feeds = {r["feed"] for r in kz.store.query("SELECT feed FROM feed_entries WHERE id = ?",
                                                        [result.incident_id])}
    assert feeds == incident_feeds
    assert kz.config.feeds["public"].id not in feeds


def test_shared_objects_are_reused_by_incidents_of_the_same_tlp_and_kept_apart_across_tlps(kz):
    first = kz.add_incident(incident_record(tlp="green", target_countries=["KZ"], threat_actor="Net"))
    second = kz.add_incident(incident_record(tlp="green", title="Second", target_countries=["KZ"], threat_actor="net"))
    red = kz.add_incident(incident_record(tlp="red", title="Third", target_countries=["KZ"], threat_actor="Net"))
    ids = lambda r, t: [o["id"] for o in refs_of_type(kz, r.report_id, t)]  # noqa: E731
    assert ids(first, "location") == ids(second, "location") != ids(red, "location")
    assert ids(first, "threat-actor") == ids(second, "threat-actor") != ids(red, "threat-actor")
    assert kz.store.one("SELECT COUNT(*) AS n FROM objects WHERE type = 'location'")["n"] == 2


def test_a_shared_objects_id_cannot_be_computed_from_public_facts(kz):
    result = kz.add_incident(incident_record(tlp="green", target_countries=["KZ"]))
    [location] = refs_of_type(kz, result.report_id, "location")
    namespace = uuid.UUID(kz.config.identity.split("--")[1])
    assert location["id"] != f"location--{uuid.uuid5(namespace, 'location:KZ')}"
    assert uuid.UUID(location["id"].split("--")[1]).version == 4


def test_an_object_another_node_planted_under_the_nodes_id_is_never_used_as_its_own(kz, uz):
    kz.trust_card(uz.card())
    set_feed(kz.home, "regional", writers=["uz"], readers=["uz"])
    planted_id = kz.scoped_ids("location", "UZ", "green")  # as if the id had leaked
    planted = sign({"type": "location", "spec_version": "2.1", "id": planted_id, "country": "RU",
                    "name": "Planted", "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
                    "created_by_ref": uz.config.identity, "object_marking_refs": [TLP_MARKINGS["green"]]},
                   uz.signing_key)
    assert kz.ingest.run([planted], Door(PEER, source="uz")).counts["accepted"] == 1
    from node.home import Node
    kz = Node(kz.home)
    result = kz.add_incident(incident_record(tlp="green", target_countries=["UZ"]))
    [location] = refs_of_type(kz, result.report_id, "location")
    assert location["id"] != planted_id
    assert location["created_by_ref"] == kz.config.identity and location["country"] == "UZ"


def test_init_makes_the_object_id_secret_private_and_full_length(make_home):
    home = make_home("kz", "KZ")
    secret = home / "keys" / object_ids.SECRET_FILE
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(secret.read_bytes()) == 32
    assert [p.name for p in (home / "keys").iterdir() if p.name.startswith(".")] == []  # no temporary left


@pytest.mark.parametrize("size", [0, 31])
def test_a_short_object_id_secret_is_refused_naming_the_file_and_nothing_is_stored(kz, size):
    # An empty file is what a reader saw while another process was still writing it.
    secret = kz.home / "keys" / object_ids.SECRET_FILE
    secret.write_bytes(b"\x01" * size)
    before = kz.store.one("SELECT COUNT(*) AS n FROM objects")["n"]
    with pytest.raises(ConfigError, match=f"{secret}: the object-id secret is {size} bytes, fewer than 32"):
        kz.add_incident(incident_record(tlp="green", target_countries=["KZ"]))
    assert kz.store.one("SELECT COUNT(*) AS n FROM objects")["n"] == before


def test_processes_that_make_the_secret_at_once_all_use_one_full_secret(kz, tmp_path):
    secret = kz.home / "keys" / object_ids.SECRET_FILE
    secret.unlink()  # a home made before init made the secret
    script = ("import sys; from node.object_ids import _secret; "
              "sys.stdout.write(_secret(sys.argv[1]).hex())")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(kz.home)], stdout=subprocess.PIPE, text=True)
             for _ in range(6)]
    seen = {p.communicate(timeout=60)[0] for p in procs}
    assert seen == {secret.read_bytes().hex()} and len(secret.read_bytes()) == 32


def test_a_location_made_before_locations_had_names_gets_one_new_version_then_is_reused(kz, monkeypatch):
    from node import incident as incident_mod
    monkeypatch.setattr(incident_mod, "location_properties", lambda code: {"country": code})  # the old mapping
    first = kz.add_incident(incident_record(target_countries=["KZ"]))
    [old] = refs_of_type(kz, first.report_id, "location")
    assert "name" not in old
    monkeypatch.undo()
    second = kz.add_incident(incident_record(target_countries=["KZ"], title="Second"))
    [new] = refs_of_type(kz, second.report_id, "location")
    assert new["id"] == old["id"] and new["created"] == old["created"] and new["modified"] > old["modified"]
    assert new["name"] == "Kazakhstan" and new["region"] == "central-asia"
    third = kz.add_incident(incident_record(target_countries=["KZ"], title="Third"))
    assert refs_of_type(kz, third.report_id, "location") == [new]
    assert len(kz.store.versions_of(old["id"])) == 2
