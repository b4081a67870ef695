"""A running `qalqan serve` follows edits of feeds/*.yaml and config.yaml without a
restart: a reader removed loses access, a lowered ceiling hides objects, a broken
file refuses requests instead of serving under the rules it replaced."""
from __future__ import annotations

import time
import uuid

import pytest
import requests
import yaml

from node.home import Node
from node.ingest import OWN, Door
from nodes import TAXII, edit_feed, introduce, make_home, running_node, signed_notes
from taxii_fixtures import World

# The server looks at the files at most once a second.
SETTLE = 1.3


@pytest.fixture
def served(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    uz = Node(make_home(tmp_path, "uz", "UZ"))
    token = introduce(home, uz.home)
    edit_feed(home, "bilateral", readers=["uz"], writers=["uz"])
    node = Node(home)
    published = {}
    for tlp in ("green", "amber"):
        notes = signed_notes(node, 2, tlp=tlp)
        assert node.ingest.run(notes, Door(OWN), batch=10).counts["accepted"] == 2
        published[tlp] = {n["id"] for n in notes}
    world = World(home, "", {f.name: f.id for f in node.config.feeds.values()}, {"uz": token})
    with running_node(home) as url:
        world.base = url
        yield world, published


def get(world: World, url: str, peer: str | None = "uz") -> requests.Response:
    return requests.get(url, headers=world.headers(peer), timeout=30)


def notes_in(resp: requests.Response) -> set[str]:
    assert resp.status_code == 200, resp.text
    return {o["id"] for o in resp.json().get("objects", []) if o["id"].startswith("note--")}


def test_a_reader_removed_while_serving_is_refused_on_its_next_request(served):
    world, published = served
    assert notes_in(get(world, world.objects_url("bilateral"))) == published["green"] | published["amber"]

    edit_feed(world.home, "bilateral", readers=[])  # still a writer: it may know the collection exists
    time.sleep(SETTLE)
    resp = get(world, world.objects_url("bilateral"))
    assert resp.status_code == 403 and resp.headers["Content-Type"] == TAXII
    assert get(world, world.collection_url("bilateral") + "manifest/").status_code == 403
    listed = {c["id"]: c for c in get(world, world.api + "collections/").json()["collections"]}
    assert listed[world.feeds["bilateral"]]["can_read"] is False

    edit_feed(world.home, "bilateral", writers=[])
    time.sleep(SETTLE)
    assert get(world, world.objects_url("bilateral")).status_code == 404
    assert get(world, world.collection_url("bilateral")).status_code == 404
    listed = get(world, world.api + "collections/").json().get("collections", [])
    assert world.feeds["bilateral"] not in {c["id"] for c in listed}


def test_a_ceiling_lowered_while_serving_hides_amber_objects(served):
    world, published = served
    assert notes_in(get(world, world.objects_url("bilateral"))) == published["green"] | published["amber"]

    edit_feed(world.home, "bilateral", max_tlp="green")
    time.sleep(SETTLE)
    assert notes_in(get(world, world.objects_url("bilateral"))) == published["green"]
    assert notes_in(get(world, world.collection_url("bilateral") + "manifest/")) == published["green"]
    for oid in published["amber"]:
        assert get(world, world.objects_url("bilateral") + oid + "/").status_code == 404
        assert get(world, world.objects_url("bilateral") + oid + "/versions/").status_code == 404
    for oid in published["green"]:
        assert get(world, world.objects_url("bilateral") + oid + "/").status_code == 200


def test_a_feed_file_added_while_serving_becomes_a_collection(served):
    world, _ = served
    feed_id = str(uuid.uuid4())
    (world.home / "feeds" / "extra.yaml").write_text(yaml.safe_dump(
        {"id": feed_id, "title": "Extra", "max_tlp": "green", "readers": ["uz"], "writers": []}), "utf-8")
    time.sleep(SETTLE)
    listed = {c["id"] for c in get(world, world.api + "collections/").json()["collections"]}
    assert feed_id in listed
    # Like any feed, it carries the well-known objects and the node's card.
    objects = get(world, world.api + f"collections/{feed_id}/objects/").json()["objects"]
    assert {"marking-definition", "identity"} <= {o["type"] for o in objects}


def test_a_broken_feed_file_refuses_requests_until_it_is_fixed(served):
    world, published = served
    path = world.home / "feeds" / "bilateral.yaml"
    good = path.read_text("utf-8")
    path.write_text(good.replace("max_tlp:", "max_tlp: [", 1), "utf-8")  # not valid YAML
    time.sleep(SETTLE)
    for peer in ("uz", None):
        resp = get(world, world.collection_url("public") + "objects/", peer)
        assert resp.status_code == 503 and resp.headers["Content-Type"] == TAXII
        body = resp.json()
        assert body["http_status"] == "503" and str(world.home) not in body.get("description", "")
    path.write_text(good, "utf-8")
    time.sleep(SETTLE)
    assert notes_in(get(world, world.objects_url("bilateral"))) == published["green"] | published["amber"]


# -- the reload itself, in process -----------------------------------------------------

def test_reload_config_if_changed_reads_the_files_only_when_they_change(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    node = Node(home)
    assert node.reload_config_if_changed(min_interval=0) is True  # the first look sets the baseline
    before = node.config
    assert node.reload_config_if_changed(min_interval=0) is False and node.config is before

    edit_feed(home, "regional", max_tlp="clear", readers=["uz"])
    assert node.reload_config_if_changed(min_interval=60) is False  # looked less than a minute ago
    assert node.reload_config_if_changed(min_interval=0) is True
    assert node.config.feeds["regional"].max_tlp == "clear" and node.config.feeds["regional"].readers == ["uz"]
    # Ingest places new objects by the new rules too.
    assert {r.name: r.max_tlp for r in node.ingest.feed_rules()}["regional"] == "clear"
    green = signed_notes(node, 1, tlp="green")
    node.ingest.run(green, Door(OWN), batch=10)
    assert node.config.feeds["regional"].id not in node.store.feeds_of(green[0]["id"])

    (home / "feeds" / "regional.yaml").unlink()
    assert node.reload_config_if_changed(min_interval=0) is True
    assert "regional" not in node.config.feeds
