"""A TAXII page is bounded in bytes, not only in objects (taxii.max_page_bytes), and no
object larger than taxii.max_object_bytes is stored; the API root announces both."""
import json

from node.app import create_app
from node.home import Node
from node.ingest import OWN, PEER, Door
from conftest import set_config, set_feed
from nodes import signed_notes

TAXII = "application/taxii+json;version=2.1"


def test_a_page_ends_before_its_byte_cap_and_next_goes_on(kz):
    set_config(kz.home, "taxii.max_page_bytes", 100_000)
    node = Node(kz.home)
    notes = signed_notes(node, 30, tlp="clear", content="x" * 20_000)
    assert node.ingest.run(notes, Door(OWN, share=["public"])).counts["accepted"] == 30
    client = create_app(kz.home).test_client()
    url = f"/taxii2/api/collections/{node.config.feeds['public'].id}/objects/"
    seen, query, pages = [], {"match[type]": "note"}, 0
    while True:
        response = client.get(url, query_string=query, headers={"Accept": TAXII})
        assert response.status_code == 200, response.text
        assert len(response.data) <= 100_000 + 200  # the envelope around the objects
        page = response.get_json()
        pages += 1
        seen.extend(o["id"] for o in page.get("objects", []))
        assert page.get("objects"), "every page moves on by at least one object"
        if not page["more"]:
            break
        query = {"match[type]": "note", "next": page["next"]}
    assert sorted(seen) == sorted(n["id"] for n in notes)
    assert pages >= 6


def test_an_object_above_the_page_cap_still_makes_its_own_page(kz):
    notes = signed_notes(kz, 3, tlp="clear", content="y" * 30_000)
    assert kz.ingest.run(notes, Door(OWN, share=["public"])).counts["accepted"] == 3
    set_config(kz.home, "taxii.max_page_bytes", 10_000)  # lowered after they were stored
    client = create_app(kz.home).test_client()
    url = f"/taxii2/api/collections/{kz.config.feeds['public'].id}/objects/"
    first = client.get(url, query_string={"match[type]": "note"}, headers={"Accept": TAXII}).get_json()
    assert len(first["objects"]) == 1 and first["more"] is True


def test_an_object_above_the_object_cap_is_refused_with_the_reason_and_stored_nowhere(kz, uz):
    set_config(kz.home, "taxii.max_object_bytes", 50_000)
    set_feed(kz.home, "regional", writers=["uz"], readers=["uz"])
    node = Node(kz.home)
    token = node.create_token("uz")
    big = signed_notes(uz, 1, content="z" * 60_000)[0]  # uz not pinned: it would be quarantined
    client = create_app(kz.home).test_client()
    response = client.post(f"/taxii2/api/collections/{node.config.feeds['regional'].id}/objects/",
                           data=json.dumps({"objects": [big]}),
                           headers={"Authorization": f"Token {token}", "Accept": TAXII, "Content-Type": TAXII})
    assert response.status_code == 202, response.text
    [failure] = response.get_json()["failures"]
    assert "more than taxii.max_object_bytes (50000)" in failure["message"]
    assert node.store.object_json(big["id"]) is None
    assert node.store.one("SELECT COUNT(*) AS n FROM quarantine")["n"] == 0
    small = signed_notes(uz, 1)[0]
    node.trust_card(uz.card())
    assert node.ingest.run([small], Door(PEER, source="uz")).counts["accepted"] == 1


def test_the_api_root_announces_both_caps(kz):
    set_config(kz.home, "taxii.max_page_bytes", 123_456)
    root = create_app(kz.home).test_client().get("/taxii2/api/", headers={"Accept": TAXII}).get_json()
    assert root["x_qalqan_max_page_bytes"] == 123_456
    assert root["x_qalqan_max_object_bytes"] == 1024 * 1024
    assert root["max_content_length"] > 0
