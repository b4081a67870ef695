"""node/markings.py: every export and feed carries the marking-definitions its objects
reference, and never the amber+strict or red ones."""
from __future__ import annotations

import json

from node.wellknown import TLP_MARKINGS, well_known_objects

from conftest import incident_record
from taxii_fixtures import post_envelope
from web_fixtures import import_from

GREEN, AMBER = TLP_MARKINGS["green"], TLP_MARKINGS["amber"]


def markings_of(objects: list[dict]) -> set[str]:
    return {o["id"] for o in objects if o["type"] == "marking-definition"}


def referenced_by(objects: list[dict]) -> set[str]:
    return {m for o in objects for m in o.get("object_marking_refs", [])}


def taxii_objects(world, feed: str, peer: str | None) -> list[dict]:
    collection = world.collection(feed, peer)
    objects, page = [], collection.get_objects()
    objects += page.get("objects", [])
    while page.get("more"):
        page = collection.get_objects(next=page["next"])
        objects += page.get("objects", [])
    return objects


def test_a_taxii_feed_carries_the_markings_of_its_objects_and_a_partner_cannot_add_red(world):
    node = world.node()
    node.add_incident(incident_record(title="Green one", tlp="green"))
    node.add_incident(incident_record(title="Red one", tlp="red"))
    red = next(o for o in well_known_objects() if o["id"] == TLP_MARKINGS["red"])
    strict = next(o for o in well_known_objects() if o["id"] == TLP_MARKINGS["amber+strict"])
    assert post_envelope(world, "bilateral", "uz", [red, strict]).status_code == 202
    for feed, peer in (("regional", "uz"), ("bilateral", "uz")):
        objects = taxii_objects(world, feed, peer)
        assert markings_of(objects) == referenced_by(objects) & set(TLP_MARKINGS.values())
        assert GREEN in markings_of(objects)
        assert not {TLP_MARKINGS["red"], TLP_MARKINGS["amber+strict"]} & markings_of(objects)
    assert markings_of(taxii_objects(world, "public", None)) <= {TLP_MARKINGS["clear"]}


def test_a_marking_enters_a_feed_before_the_first_object_that_references_it(world):
    node = world.node()
    node.add_incident(incident_record(title="Amber one", tlp="amber"))
    objects = taxii_objects(world, "bilateral", "uz")
    ids = [o["id"] for o in objects]
    first_amber = min(i for i, o in enumerate(objects) if AMBER in o.get("object_marking_refs", []))
    assert ids.index(AMBER) < first_amber and ids.count(AMBER) == 1


def test_the_incident_bundle_download_carries_its_marking_and_no_other(analyst, node, uz):
    result = node.add_incident(incident_record(tlp="amber"))
    bundle = json.loads(analyst.get(f"/incidents/{result.incident_id}/stix.json").data)
    assert markings_of(bundle["objects"]) == {AMBER}
    theirs = uz.add_incident(incident_record(title="From UZ", tlp="green", urls=["https://uz.example/post"],
                                             accounts=[], media_sha256=[]))
    import_from(node, uz)
    bundle = json.loads(analyst.get(f"/incidents/{theirs.incident_id}/stix.json").data)
    assert markings_of(bundle["objects"]) == referenced_by(bundle["objects"]) == {GREEN}
