"""The TAXII server driven by the OASIS client (taxii2-client) and stix2, against a
real `qalqan serve` on loopback."""
from __future__ import annotations

import json

import pytest
import requests
import stix2
from taxii2client.v21 import as_pages

from nodes import TAXII, signed_notes
from taxii_fixtures import store_fingerprint


@pytest.fixture(scope="module")
def posted(world):
    """250 signed notes from uz, posted in one envelope to the regional feed."""
    notes = signed_notes(world.partners["uz"], 250)
    status = world.collection("regional", "uz").add_objects({"objects": notes})
    return notes, status


def note_ids(pages) -> list[str]:
    return [o["id"] for page in pages for o in page.get("objects", []) if o["type"] == "note"]


def test_discovery_names_the_one_api_root(world):
    server = world.server("uz")
    assert server.title.startswith("Qalqan node kz")
    assert [root.url for root in server.api_roots] == [world.api]
    assert server.default.url == world.api
    assert "application/taxii+json;version=2.1" in server.default.versions


def test_collections_show_what_the_asking_peer_may_do(world):
    def rights(peer):
        return {c.title.split(" ")[0]: (c.can_read, c.can_write) for c in world.server(peer).default.collections}
    assert rights("uz") == {"Bilateral": (True, True), "Regional": (True, True), "Public": (True, False)}
    assert rights("tm") == {"Bilateral": (False, True), "Regional": (True, False), "Public": (True, False)}
    assert rights("az") == {"Public": (True, False)}


def test_a_posted_envelope_is_reported_object_by_object(world, posted):
    notes, status = posted
    assert status.status == "complete"
    assert status.total_count == 250 and status.success_count == 250 and status.failure_count == 0
    assert {s["id"] for s in status.successes} == {n["id"] for n in notes}


def test_the_status_can_be_read_again_by_the_poster(world, posted):
    _, status = posted
    again = world.server("uz").default.get_status(status.id)
    assert again.success_count == 250


def test_paging_by_next_with_limit_7_returns_each_object_exactly_once(world, posted):
    notes, _ = posted
    pages = list(as_pages(world.collection("regional", "uz").get_objects, per_request=7))
    ids = note_ids(pages)
    assert all(len(page.get("objects", [])) <= 7 for page in pages)
    assert len(ids) == len(set(ids)) == 250
    assert set(ids) == {n["id"] for n in notes}


def test_paging_by_added_after_with_limit_7_returns_each_object_exactly_once(world, posted):
    notes, _ = posted
    seen, params = [], {"limit": 7}
    while True:
        resp = requests.get(world.objects_url("regional"), params=params, headers=world.headers("uz"), timeout=30)
        assert resp.status_code == 200
        page = resp.json()
        seen.extend(o["id"] for o in page.get("objects", []) if o["type"] == "note")
        if not page.get("more"):
            break
        params = {"limit": 7, "added_after": resp.headers["X-TAXII-Date-Added-Last"]}
    assert len(seen) == len(set(seen)) == 250
    assert set(seen) == {n["id"] for n in notes}


def test_the_manifest_pages_with_next_too(world, posted):
    notes, _ = posted
    pages = list(as_pages(world.collection("regional", "uz").get_manifest, per_request=7))
    records = [r for page in pages for r in page.get("objects", [])]
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    assert {n["id"] for n in notes} <= set(ids)
    assert all(r["media_type"] == "application/stix+json;version=2.1" for r in records)
    stamps = [r["date_added"] for r in records]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_objects_are_served_byte_for_byte_as_stored(world, posted):
    notes, _ = posted
    resp = requests.get(world.objects_url("regional") + notes[0]["id"] + "/", headers=world.headers("uz"),
                        timeout=30)
    stored = world.node().store.object_json(notes[0]["id"])
    assert stored in resp.text
    assert json.loads(stored) == notes[0]


def test_match_type_and_id_select_objects(world, posted):
    notes, _ = posted
    collection = world.collection("regional", "uz")
    wanted = [notes[3]["id"], notes[200]["id"]]
    found = collection.get_objects(id=wanted)["objects"]
    assert sorted(o["id"] for o in found) == sorted(wanted)
    types = {o["type"] for o in collection.get_objects(type="marking-definition")["objects"]}
    assert types == {"marking-definition"}
    assert collection.get_objects(type="indicator") == {}


def test_object_versions_lists_every_version_and_match_version_picks_one(world):
    uz = world.partners["uz"]
    first = signed_notes(uz, 1, modified="2026-11-01T00:00:00.000Z")
    second = signed_notes(uz, 1, modified="2026-11-02T00:00:00.000Z", ids=[first[0]["id"]])
    collection = world.collection("regional", "uz")
    collection.add_objects({"objects": first})
    collection.add_objects({"objects": second})
    oid = first[0]["id"]
    assert collection.object_versions(oid)["versions"] == ["2026-11-01T00:00:00.000Z", "2026-11-02T00:00:00.000Z"]
    assert collection.get_object(oid)["objects"][0]["modified"] == "2026-11-02T00:00:00.000Z"
    assert collection.get_object(oid, version="first")["objects"][0]["modified"] == "2026-11-01T00:00:00.000Z"
    assert len(collection.get_object(oid, version="all")["objects"]) == 2
    assert len(collection.get_objects(id=oid, version="first,last")["objects"]) == 2


def test_manifest_and_versions_give_the_objects_own_modified_and_match_version_takes_any_precision(world):
    uz = world.partners["uz"]
    first = signed_notes(uz, 1, modified="2026-11-05T06:07:08.123Z")
    second = signed_notes(uz, 1, modified="2026-11-06T01:02:03.4Z", ids=[first[0]["id"]])
    collection = world.collection("regional", "uz")
    collection.add_objects({"objects": first + second})
    oid, modified = first[0]["id"], [first[0]["modified"], second[0]["modified"]]

    assert [r["version"] for r in collection.get_manifest(id=oid, version="all")["objects"]] == modified
    assert [r["version"] for r in collection.get_manifest(id=oid)["objects"]] == modified[1:]
    assert collection.object_versions(oid)["versions"] == modified
    for asked in ("2026-11-05T06:07:08.123Z", "2026-11-05T06:07:08.123000Z", "2026-11-05T06:07:08.1230000Z"):
        assert [o["modified"] for o in collection.get_object(oid, version=asked)["objects"]] == modified[:1]
        found = collection.get_objects(id=oid, version=asked)["objects"]
        assert [o["modified"] for o in found] == modified[:1]
    assert [o["modified"] for o in collection.get_object(oid, version="2026-11-06T01:02:03.400Z")["objects"]] \
        == modified[1:]
    # Objects without `modified` (markings) report their `created`.
    markings = collection.get_objects(type="marking-definition")["objects"]
    versions = {r["id"]: r["version"] for r in collection.get_manifest(type="marking-definition")["objects"]}
    assert versions == {o["id"]: o.get("modified", o["created"]) for o in markings}


def test_a_peer_deletes_its_own_object_from_one_feed_only(world):
    uz = world.partners["uz"]
    note = signed_notes(uz, 1)[0]
    collection = world.collection("regional", "uz")
    collection.add_objects({"objects": [note]})
    collection.delete_object(note["id"])
    resp = requests.get(world.objects_url("regional") + note["id"] + "/", headers=world.headers("uz"), timeout=30)
    assert resp.status_code == 404
    listed = [r["id"] for page in as_pages(collection.get_manifest, per_request=500) for r in page.get("objects", [])]
    assert note["id"] not in listed
    assert world.node().store.object_json(note["id"]) is not None


def test_a_peer_may_not_delete_objects_another_node_created(world):
    kz_card_id = world.node().config.identity
    resp = requests.delete(world.objects_url("regional") + kz_card_id + "/", headers=world.headers("uz"), timeout=30)
    assert resp.status_code == 403
    assert resp.headers["Content-Type"] == TAXII
    again = requests.get(world.objects_url("regional") + kz_card_id + "/", headers=world.headers("uz"), timeout=30)
    assert again.status_code == 200


def test_stix2_taxii_collection_source_reads_a_feed(world, posted):
    notes, _ = posted
    source = stix2.TAXIICollectionSource(world.collection("regional", "uz"), allow_custom=True)
    got = source.get(notes[10]["id"])
    assert got.id == notes[10]["id"] and got.content == notes[10]["content"]
    found = source.query([stix2.Filter("type", "=", "note"), stix2.Filter("id", "=", notes[20]["id"])])
    assert [o.id for o in found] == [notes[20]["id"]]


def test_the_public_feed_needs_no_credentials(world):
    collection = world.collection("public")
    assert collection.can_read and not collection.can_write
    objects = collection.get_objects()["objects"]
    assert {o["type"] for o in objects} >= {"extension-definition", "identity"}


def test_a_repeated_post_counts_duplicates_as_successes(world, posted):
    notes, _ = posted
    before = store_fingerprint(world.home)
    status = world.collection("regional", "uz").add_objects({"objects": notes[:5]})
    assert status.success_count == 5 and status.failure_count == 0
    assert all(s.get("message") == "already held: duplicate" for s in status.successes)
    after = store_fingerprint(world.home)
    assert {k: v for k, v in after.items() if k != "statuses"} == {k: v for k, v in before.items() if k != "statuses"}


def test_an_accepted_object_that_policy_keeps_out_of_the_collection_says_so(world):
    # tm may write the bilateral feed but uz reads it: tm's amber would reach a third party
    amber = signed_notes(world.partners["tm"], 1, tlp="amber")
    status = world.collection("bilateral", "tm").add_objects({"objects": amber})
    assert status.success_count == 1
    assert "keeps it out of this collection" in status.successes[0]["message"]
    resp = requests.get(world.objects_url("bilateral") + amber[0]["id"] + "/", headers=world.headers("uz"), timeout=30)
    assert resp.status_code == 404
