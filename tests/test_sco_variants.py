"""Another node's copy of an observable this node created (same value, so the same
deterministic id, with another marking) is stored but never becomes the latest version
over this node's own, and enters no feed (docs/security.md, item 5)."""
import io
import json

import pytest

from node.app import create_app
from node.export import write_bundle
from node.ingest import IMPORT, PEER, Door
from node.sco import deterministic_id
from node.wellknown import TLP_MARKINGS
from conftest import incident_record, set_feed

TAXII = "application/taxii+json;version=2.1"
HELD = "https://t.me/fakechannel/123"  # the url of incident_record()


def url_sco(value: str, tlp: str) -> dict:
    url = {"type": "url", "spec_version": "2.1", "id": "", "value": value, "object_marking_refs": [TLP_MARKINGS[tlp]]}
    url["id"] = deterministic_id(url)
    return url


@pytest.fixture
def regional(kz, uz):
    """KZ's regional feed: UZ writes to it, UZ and TM read it."""
    kz.trust_card(uz.card())
    set_feed(kz.home, "regional", writers=["uz"], readers=["uz", "tm"])
    kz.reload_config_if_changed()
    return create_app(kz.home).test_client()


def taxii(client, method: str, path: str, token: str, body: dict | None = None):
    headers = {"Authorization": f"Token {token}", "Accept": TAXII, "Content-Type": TAXII}
    return client.open(path, method=method, headers=headers, data=json.dumps(body) if body else None)


def feed_objects(client, kz, token: str) -> list[dict]:
    feed = kz.config.feeds["regional"].id
    answer = taxii(client, "GET", f"/taxii2/api/collections/{feed}/objects/?match[version]=all", token)
    assert answer.status_code == 200, answer.text
    return answer.get_json().get("objects", [])


def test_a_partners_clear_copy_of_our_red_url_is_not_latest_and_reaches_no_feed(kz, regional):
    kz.add_incident(incident_record(tlp="red"))
    ours = url_sco(HELD, "red")
    cleared = url_sco(HELD, "clear")
    assert cleared["id"] == ours["id"]
    feed = kz.config.feeds["regional"].id
    answer = taxii(regional, "POST", f"/taxii2/api/collections/{feed}/objects/", kz.create_token("uz"),
                   {"objects": [cleared]})
    assert answer.status_code == 202 and answer.get_json()["success_count"] == 1  # stored, as an unheld one would be

    versions = kz.store.versions_of(ours["id"])
    assert len(versions) == 2
    assert [(v["origin"], v["latest"]) for v in versions] == [("own", 1), ("peer", 0)]
    assert json.loads(kz.store.object_json(ours["id"])) == ours
    assert kz.store.feeds_of(ours["id"]) == []
    assert ours["id"] not in {o["id"] for o in feed_objects(regional, kz, kz.create_token("tm"))}


def test_a_partners_copy_of_our_green_url_leaves_ours_the_one_exported_and_served(kz, regional):
    kz.add_incident(incident_record(tlp="green"))
    ours, cleared = url_sco(HELD, "green"), url_sco(HELD, "clear")
    kz.ingest.run([cleared], Door(PEER, source="uz"))
    assert json.loads(kz.store.object_json(ours["id"])) == ours
    exported = io.StringIO()
    write_bundle(kz.store, exported)  # the node's own objects
    assert ours in json.loads(exported.getvalue())["objects"]
    assert cleared not in feed_objects(regional, kz, kz.create_token("tm"))


def test_a_variant_first_stored_by_a_plain_import_does_not_join_a_feed_when_the_partner_sends_it(kz, regional):
    kz.add_incident(incident_record(tlp="red"))
    cleared = url_sco(HELD, "clear")
    assert kz.ingest.run([cleared], Door(IMPORT)).counts["accepted"] == 1
    summary = kz.ingest.run([cleared], Door(PEER, source="uz"))
    assert summary.counts["duplicate"] == 1
    assert kz.store.feeds_of(cleared["id"]) == []
    assert json.loads(kz.store.object_json(cleared["id"]))["object_marking_refs"] == [TLP_MARKINGS["red"]]


def test_our_own_url_made_after_a_partners_copy_becomes_the_latest(kz, regional):
    cleared = url_sco(HELD, "clear")
    kz.ingest.run([cleared], Door(PEER, source="uz"))
    assert kz.store.feeds_of(cleared["id"]) != []  # nothing of ours under that id yet: relayed as before
    kz.add_incident(incident_record(tlp="red"))
    assert json.loads(kz.store.object_json(cleared["id"]))["object_marking_refs"] == [TLP_MARKINGS["red"]]
    kz.ingest.run([url_sco(HELD, "green")], Door(PEER, source="uz"))
    assert json.loads(kz.store.object_json(cleared["id"]))["object_marking_refs"] == [TLP_MARKINGS["red"]]
