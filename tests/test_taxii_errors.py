"""Every error case of the checklist, with raw HTTP: the right status, a TAXII error
body with the TAXII content type, and a store left unchanged."""
from __future__ import annotations

import json
import re
import uuid

import pytest
import requests

from node.home import Node
from nodes import TAXII, make_home, signed_notes
from taxii_fixtures import MAX_BODY, post_envelope, store_fingerprint


def assert_taxii_error(resp: requests.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == TAXII
    body = resp.json()
    assert body["http_status"] == str(status) and body["title"]
    return body


@pytest.fixture
def unchanged(world):
    before = store_fingerprint(world.home)
    yield
    assert store_fingerprint(world.home) == before


def post_raw(world, body: bytes, content_type: str = TAXII, peer: str = "uz", feed: str = "regional"):
    headers = world.headers(peer, **{"Content-Type": content_type})
    return requests.post(world.objects_url(feed), data=body, headers=headers, timeout=30)


def test_malformed_json_is_a_400(world, unchanged):
    assert_taxii_error(post_raw(world, b'{"objects": [{"type": "note",'), 400)


def test_json_with_duplicate_keys_is_a_400(world, unchanged):
    assert_taxii_error(post_raw(world, b'{"objects": [], "objects": []}'), 400)


def test_json_that_is_not_an_envelope_is_a_422(world, unchanged):
    assert_taxii_error(post_raw(world, b'[1, 2, 3]'), 422)
    assert_taxii_error(post_raw(world, b'{"objects": ["note"]}'), 422)
    assert_taxii_error(post_raw(world, b'{"objects": []}'), 422)


def test_a_body_of_another_media_type_is_a_415(world, unchanged):
    body = json.dumps({"objects": signed_notes(world.partners["uz"], 1)}).encode()
    assert_taxii_error(post_raw(world, body, content_type="application/json"), 415)
    assert_taxii_error(post_raw(world, body, content_type="application/taxii+json;version=2.0"), 415)


def test_a_body_above_max_content_length_is_a_413(world, unchanged):
    notes = signed_notes(world.partners["uz"], 1)
    notes[0]["content"] = "x" * (MAX_BODY + 1)
    assert_taxii_error(post_raw(world, json.dumps({"objects": notes}).encode()), 413)


def test_a_body_just_under_max_content_length_is_accepted(world):
    notes = signed_notes(world.partners["uz"], 1)
    size = len(json.dumps({"objects": notes}).encode())
    notes = signed_notes(world.partners["uz"], 1, content="y" * (MAX_BODY - size - 200))
    resp = post_envelope(world, "regional", "uz", notes)
    assert resp.status_code == 202 and resp.json()["success_count"] == 1


def test_an_unknown_collection_is_a_404_like_one_the_caller_may_not_see(world, unchanged):
    unknown = f"{world.api}collections/{uuid.uuid4()}/objects/"
    hidden = world.objects_url("bilateral")  # az is named in no feed
    for url in (unknown, hidden):
        body = assert_taxii_error(requests.get(url, headers=world.headers("az"), timeout=30), 404)
        assert body["description"] == "no such resource"
    post = requests.post(unknown, data=b'{"objects":[]}', headers=world.headers("uz", **{"Content-Type": TAXII}),
                         timeout=30)
    assert_taxii_error(post, 404)


@pytest.mark.parametrize("query", [
    "added_after=yesterday", "added_after=2026-13-01T00:00:00Z", "limit=0", "limit=-3", "limit=ten",
    "match[version]=newest", "match[version]=all,last", "match[version]=first,first", "match[id]=not-an-id",
    "match[type]=Bad_Type", "match[spec_version]=two", "match[type]=note,,indicator", "limit=5&limit=6",
    "next=", "next=AAAA",
])
def test_a_malformed_filter_is_a_400(world, query):
    resp = requests.get(world.objects_url("regional") + "?" + query, headers=world.headers("uz"), timeout=30)
    assert_taxii_error(resp, 400)


def test_an_unknown_match_field_is_ignored(world):
    resp = requests.get(world.objects_url("regional") + "?match[colour]=blue&limit=1", headers=world.headers("uz"),
                        timeout=30)
    assert resp.status_code == 200 and len(resp.json()["objects"]) == 1


def first_page(world, peer="uz", query="limit=2"):
    resp = requests.get(world.objects_url("regional") + "?" + query, headers=world.headers(peer), timeout=30)
    assert resp.status_code == 200 and resp.json()["more"] is True
    return resp.json()["next"]


def test_a_next_token_can_be_fetched_twice_with_the_same_page(world):
    token = first_page(world)
    url = world.objects_url("regional") + "?limit=2&next=" + token
    one = requests.get(url, headers=world.headers("uz"), timeout=30)
    two = requests.get(url, headers=world.headers("uz"), timeout=30)
    assert one.status_code == two.status_code == 200
    assert one.text == two.text
    assert one.headers["X-TAXII-Date-Added-Last"] == two.headers["X-TAXII-Date-Added-Last"]


def test_a_forged_next_token_is_a_400(world):
    token = first_page(world)
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    resp = requests.get(world.objects_url("regional") + "?limit=2&next=" + forged, headers=world.headers("uz"),
                        timeout=30)
    assert_taxii_error(resp, 400)


def test_a_next_token_replayed_by_another_caller_is_a_400(world):
    token = first_page(world, peer="uz")
    resp = requests.get(world.objects_url("regional") + "?limit=2&next=" + token, headers=world.headers("tm"),
                        timeout=30)
    assert_taxii_error(resp, 400)


def test_a_next_token_replayed_with_other_filters_is_a_400(world):
    token = first_page(world)
    resp = requests.get(world.objects_url("regional") + "?limit=2&match[type]=identity&next=" + token,
                        headers=world.headers("uz"), timeout=30)
    assert_taxii_error(resp, 400)


def test_a_next_token_replayed_on_another_endpoint_is_a_400(world):
    token = first_page(world)
    resp = requests.get(world.collection_url("regional") + "manifest/?limit=2&next=" + token,
                        headers=world.headers("uz"), timeout=30)
    assert_taxii_error(resp, 400)


MICROSECONDS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")  # checklist R10


def test_every_page_names_its_first_and_last_date_added(world):
    card = world.node().config.identity
    manifest = requests.get(world.collection_url("regional") + "manifest/", headers=world.headers("uz"),
                            timeout=30).json()["objects"]
    added = [m["date_added"] for m in manifest]
    card_added = [m["date_added"] for m in manifest if m["id"] == card]
    expected = {"objects/": (added[0], added[-1]), "manifest/": (added[0], added[-1]),
                f"objects/{card}/": (card_added[0], card_added[-1]),
                f"objects/{card}/versions/": (card_added[0], card_added[-1])}
    for suffix in (*expected, "objects/?match[type]=no-such-type"):
        resp = requests.get(world.collection_url("regional") + suffix, headers=world.headers("uz"), timeout=30)
        assert resp.status_code == 200
        first, last = resp.headers["X-TAXII-Date-Added-First"], resp.headers["X-TAXII-Date-Added-Last"]
        assert MICROSECONDS_UTC.match(first) and MICROSECONDS_UTC.match(last), (suffix, first, last)
        assert (first, last) == expected.get(suffix, (first, first)), suffix  # an empty page: one position


def test_an_unknown_path_under_taxii2_is_a_taxii_404(world):
    assert_taxii_error(requests.get(world.base + "/taxii2/nothing/here/", headers=world.headers(), timeout=30), 404)


def test_an_unknown_path_with_a_line_break_is_a_taxii_404_too(world):
    """Found by tests/test_fuzz_taxii.py: Werkzeug's `path` converter stops at a line
    break, so /taxii2/0%0A got Flask's HTML 404 instead of a TAXII error."""
    for path in ("0%0A", "a%0Ab/", "api/x%0D%0Ay", "api/collections/x/objects/y/versions/z%0A"):
        assert_taxii_error(requests.get(world.base + "/taxii2/" + path, headers=world.headers(), timeout=30), 404)


def test_a_wrong_method_is_a_taxii_405(world):
    resp = requests.put(world.api, headers=world.headers("uz"), timeout=30)
    assert_taxii_error(resp, 405)
    assert "GET" in resp.headers["Allow"]
    assert_taxii_error(requests.delete(world.objects_url("regional"), headers=world.headers("uz"), timeout=30), 405)


def test_an_accept_header_without_taxii_is_a_406(world):
    for accept in ("application/json", "text/html", "application/taxii+json;version=2.0"):
        resp = requests.get(world.api, headers={"Accept": accept}, timeout=30)
        assert_taxii_error(resp, 406)


def test_bare_taxii_media_type_is_accepted(world):
    resp = requests.get(world.api, headers={"Accept": "application/taxii+json"}, timeout=30)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == TAXII


def test_a_request_without_user_agent_is_served(world):
    session = requests.Session()
    del session.headers["User-Agent"]
    assert session.get(world.api, headers={"Accept": TAXII}, timeout=30).status_code == 200


def test_a_peer_that_may_only_read_cannot_post(world, unchanged):
    body = json.dumps({"objects": signed_notes(world.partners["tm"], 1)}).encode()
    assert_taxii_error(post_raw(world, body, peer="tm", feed="regional"), 403)


def test_a_peer_that_may_only_write_cannot_read(world):
    assert_taxii_error(requests.get(world.objects_url("bilateral"), headers=world.headers("tm"), timeout=30), 403)


def test_delete_answers_by_the_read_write_matrix(world, unchanged):
    card = world.node().config.identity
    cases = {("az", "regional"): 404, ("tm", "regional"): 403, ("tm", "bilateral"): 403}
    for (peer, feed), status in cases.items():
        resp = requests.delete(world.objects_url(feed) + card + "/", headers=world.headers(peer), timeout=30)
        assert_taxii_error(resp, status)
    missing = requests.delete(world.objects_url("regional") + f"note--{uuid.uuid4()}/", headers=world.headers("uz"),
                              timeout=30)
    assert_taxii_error(missing, 404)


def test_an_unknown_object_is_a_404(world):
    resp = requests.get(world.objects_url("regional") + f"note--{uuid.uuid4()}/", headers=world.headers("uz"),
                        timeout=30)
    assert_taxii_error(resp, 404)
    versions = requests.get(world.objects_url("regional") + f"note--{uuid.uuid4()}/versions/",
                            headers=world.headers("uz"), timeout=30)
    assert_taxii_error(versions, 404)


def test_a_tampered_object_is_a_failure_with_a_reason_beside_the_good_one(world):
    good, tampered = signed_notes(world.partners["uz"], 2)
    tampered["content"] = "changed after signing"
    resp = post_envelope(world, "regional", "uz", [good, tampered])
    status = resp.json()
    assert resp.status_code == 202
    assert status["success_count"] == 1 and status["failure_count"] == 1
    assert status["successes"][0]["id"] == good["id"]
    assert status["failures"][0]["id"] == tampered["id"] and status["failures"][0]["message"]
    assert world.node().store.object_json(tampered["id"]) is None


def test_an_object_of_an_unknown_signer_is_reported_as_quarantined(world, tmp_path):
    stranger = Node(make_home(tmp_path, "kg", "KG"))
    note = signed_notes(stranger, 1)[0]
    resp = post_envelope(world, "regional", "uz", [note])
    status = resp.json()
    assert resp.status_code == 202 and status["status"] == "complete" and status["failure_count"] == 1
    assert status["failures"][0]["message"].startswith("quarantined")
    assert world.node().store.object_json(note["id"]) is None
