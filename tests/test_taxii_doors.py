"""Which door a TAXII POST comes through (ingest.Door.for_peer, the rule sync pull and
`import --from` share): a peer configured `signed: false` is an unsigned source whose
objects are stored but never relayed; a token holder with no config entry is held to
signatures like any partner."""
from __future__ import annotations

import json
import uuid

import pytest
import requests

from node.home import Node
from nodes import TAXII, edit_feed, make_home, serving_in_process


def unsigned_note(created_by: str | None = None) -> dict:
    note = {"type": "note", "spec_version": "2.1", "id": f"note--{uuid.uuid4()}",
            "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
            "content": "from a source that does not sign", "object_refs": [f"note--{uuid.uuid4()}"],
            "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}  # green
    if created_by:
        note["created_by_ref"] = created_by
    return note


@pytest.fixture(scope="module")
def doors(tmp_path_factory):
    base = tmp_path_factory.mktemp("doors")
    home = make_home(base, "kz", "KZ")
    node = Node(home)
    node.add_peer("wire", {}, "http://127.0.0.1:9/taxii2/", signed=False)  # an unsigned news wire
    tokens = {"wire": node.create_token("wire"), "ghost": node.create_token("ghost")}  # ghost: no config entry
    edit_feed(home, "regional", writers=["wire", "ghost"], readers=[])
    with serving_in_process(home) as url:
        yield Node(home), url, tokens


def post(doors, peer: str, objects: list[dict]) -> dict:
    node, url, tokens = doors
    collection = node.config.feed("regional").id
    resp = requests.post(f"{url}/taxii2/api/collections/{collection}/objects/", data=json.dumps({"objects": objects}),
                         headers={"Accept": TAXII, "Content-Type": TAXII, "Authorization": f"Token {tokens[peer]}"},
                         timeout=30)
    assert resp.status_code == 202, resp.text
    return resp.json()


def test_an_unsigned_peer_s_objects_are_stored_as_external_and_never_relayed(doors):
    node = doors[0]
    note = unsigned_note()
    status = post(doors, "wire", [note])
    assert status["success_count"] == 1
    row = node.store.one("SELECT origin, source FROM objects WHERE id = ?", [note["id"]])
    assert row == {"origin": "external", "source": "wire"}
    assert node.store.feeds_of(note["id"]) == []  # green, posted to a feed naming it a writer: still not relayed


def test_an_unsigned_peer_may_not_speak_for_this_node(doors):
    node = doors[0]
    note = unsigned_note(created_by=node.config.identity)
    status = post(doors, "wire", [note])
    assert status["failure_count"] == 1 and "claims to be created by trusted node" in status["failures"][0]["message"]
    assert node.store.one("SELECT 1 AS x FROM objects WHERE id = ?", [note["id"]]) is None


def test_a_token_holder_with_no_config_entry_is_held_to_signatures(doors):
    node = doors[0]
    note = unsigned_note(created_by=f"identity--{uuid.uuid4()}")
    status = post(doors, "ghost", [note])
    assert status["failure_count"] == 1 and "is not signed" in status["failures"][0]["message"]
    assert node.store.one("SELECT 1 AS x FROM objects WHERE id = ?", [note["id"]]) is None
