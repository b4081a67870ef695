"""TLP on the way out: a reader never receives an object above the feed's ceiling, and
amber+strict or red objects never leave the node, even when an entry says otherwise."""
from __future__ import annotations

import pytest
import requests
from taxii2client.v21 import as_pages

from node.home import Node
from node.ingest import OWN, Door
from nodes import edit_feed, introduce, make_home, serving_in_process, signed_notes
from taxii_fixtures import World


@pytest.fixture(scope="module")
def tlp_world(tmp_path_factory):
    base = tmp_path_factory.mktemp("tlp")
    home = make_home(base, "kz", "KZ")
    uz = Node(make_home(base, "uz", "UZ"))
    token = introduce(home, uz.home)
    edit_feed(home, "bilateral", readers=["uz"], writers=["uz"])
    edit_feed(home, "regional", readers=["uz"])
    node = Node(home)
    published = {}
    for tlp in ("green", "amber", "amber+strict", "red"):
        notes = signed_notes(node, 3, tlp=tlp)
        node.ingest.run(notes, Door(OWN), batch=10)
        published[tlp] = {n["id"] for n in notes}
    bilateral = node.config.feed("bilateral").id
    with node.store.transaction():  # entries no policy would make: the read path must still refuse them
        for oid in published["amber+strict"] | published["red"]:
            node.store.add_to_feed(bilateral, node.store.one("SELECT * FROM objects WHERE id = ?", [oid]))
    edit_feed(home, "bilateral", max_tlp="green")  # the ceiling was lowered after amber was published
    world = World(home, "", {f.name: f.id for f in node.config.feeds.values()}, {"uz": token})
    with serving_in_process(home) as url:
        world.base = url
        yield world, published


def every_note(collection, fetch) -> set[str]:
    return {o["id"] for page in as_pages(fetch, per_request=2) for o in page.get("objects", [])
            if o["id"].startswith("note--")}


def test_the_feed_serves_only_objects_at_or_below_its_ceiling(tlp_world):
    world, published = tlp_world
    collection = world.collection("bilateral", "uz")
    assert every_note(collection, collection.get_objects) == published["green"]
    assert every_note(collection, collection.get_manifest) == published["green"]


def test_objects_above_the_ceiling_are_not_found_one_by_one(tlp_world):
    world, published = tlp_world
    for tlp in ("amber", "amber+strict", "red"):
        for oid in published[tlp]:
            for suffix in ("", "versions/"):
                resp = requests.get(world.objects_url("bilateral") + oid + "/" + suffix, headers=world.headers("uz"),
                                    timeout=30)
                assert resp.status_code == 404


def test_filters_do_not_uncover_objects_above_the_ceiling(tlp_world):
    world, published = tlp_world
    hidden = sorted(published["amber"] | published["red"])
    resp = requests.get(world.objects_url("bilateral"), params={"match[id]": ",".join(hidden),
                                                                 "match[version]": "all"},
                        headers=world.headers("uz"), timeout=30)
    assert resp.status_code == 200 and resp.json() == {}


def test_red_and_amber_strict_never_reach_any_feed(tlp_world):
    world, published = tlp_world
    for feed in ("public", "regional"):
        collection = world.collection(feed, "uz")
        served = every_note(collection, collection.get_objects)
        assert not served & (published["red"] | published["amber+strict"] | published["amber"])
