"""Hostile JSON: deep nesting, numbers canonical JSON cannot carry, markings of the
wrong type. Each is one clear refusal of that object (or that file), never a 500 or a
traceback, and the rest of a POST is still stored."""
import io
import json
import uuid

import pytest

from node import wire
from node.app import create_app
from node.errors import InputError
from node.signing import sign
from node.wellknown import TLP_MARKINGS
from conftest import run_qalqan, set_feed

TAXII = "application/taxii+json;version=2.1"
DEEP = '{"objects":[{"type":"note","x":' + "[" * 5000 + "]" * 5000 + "}]}"


@pytest.mark.parametrize("text, reason", [
    ('{"a":' * 50_000 + "1" + "}" * 50_000, "nested deeper"),
    ("[" * 65 + "]" * 65, "nested deeper"),
    ('{"n": ' + "9" * 4000 + "}", r"beyond 2\^53"),
    ('{"n": 9007199254740993}', r"beyond 2\^53"),
    ('{"n": -1e400}', "overflows"),
])
def test_the_strict_reader_refuses_with_one_sentence(text, reason):
    with pytest.raises(InputError, match=reason):
        wire.loads(text)
    with pytest.raises(InputError, match=reason):
        list(wire.iter_objects(io.BytesIO(('{"objects":[{"v":' + text + "}]}").encode())))


def test_what_stix_needs_still_parses():
    assert wire.loads('{"a": [1, -2.5, 9007199254740992, {"b": "q\\\\\\""}]}') == \
        {"a": [1, -2.5, 2 ** 53, {"b": 'q\\"'}]}
    assert wire.loads("[" * 64 + "]" * 64)


@pytest.mark.parametrize("command", ["import", "verify"])
def test_import_and_verify_answer_a_hostile_file_with_one_sentence(make_home, tmp_path, command):
    home = make_home("kz", "KZ")
    path = tmp_path / "deep.json"
    path.write_text(DEEP)
    result = run_qalqan(command, str(path), home=home)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "nested deeper" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _note(node, marking) -> dict:
    return sign({"type": "note", "spec_version": "2.1", "id": f"note--{uuid.uuid4()}", "content": "x",
                 "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
                 "created_by_ref": node.config.identity, "object_refs": [node.config.identity],
                 "object_marking_refs": marking}, node.signing_key)


def test_a_post_with_hostile_parts_answers_for_each_and_keeps_the_good_ones(kz, uz):
    kz.trust_card(uz.card())
    set_feed(kz.home, "regional", writers=["uz"], readers=["uz"])
    token = kz.create_token("uz")
    client = create_app(kz.home).test_client()
    feed = kz.config.feeds["regional"].id
    headers = {"Authorization": f"Token {token}", "Accept": "application/taxii+json;version=2.1",
               "Content-Type": "application/taxii+json;version=2.1"}
    good = _note(uz, [TLP_MARKINGS["green"]])
    bad = [_note(uz, 5), _note(uz, [{"x": 1}]), _note(uz, "marking-definition--x")]
    body = json.dumps({"objects": [*bad, good]})
    response = client.post(f"/taxii2/api/collections/{feed}/objects/", data=body, headers=headers)
    assert response.status_code == 202, response.text
    status = response.get_json()
    assert status["success_count"] == 1 and status["failure_count"] == 3
    assert kz.store.object_json(good["id"]) is not None
    deep = client.post(f"/taxii2/api/collections/{feed}/objects/", data=DEEP, headers=headers)
    assert deep.status_code == 400 and "nested deeper" in deep.get_json()["title"] + deep.get_json().get(
        "description", "")


@pytest.mark.parametrize("refs", [None, 5, "incident--x", {"a": 1}, [5, None, {"a": 1}]])
def test_a_signed_report_whose_object_refs_is_not_a_list_of_ids_never_loses_the_post(kz, uz, refs):
    """Found by tests/test_fuzz_web.py: a partner's signed report with `object_refs: null`
    (or a number) raised TypeError inside the ingest transaction: a 500, and the whole
    POST was lost. Its references are the strings of a list, or none."""
    kz.trust_card(uz.card())
    set_feed(kz.home, "regional", writers=["uz"], readers=["uz"])
    token = kz.create_token("uz")
    client = create_app(kz.home).test_client()
    report = sign({"type": "report", "spec_version": "2.1", "id": f"report--{uuid.uuid4()}",
                   "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
                   "published": "2026-11-01T00:00:00.000Z", "name": "odd refs", "created_by_ref": uz.config.identity,
                   "object_refs": refs, "object_marking_refs": [TLP_MARKINGS["green"]]}, uz.signing_key)
    good = _note(uz, [TLP_MARKINGS["green"]])
    response = client.post(f"/taxii2/api/collections/{kz.config.feeds['regional'].id}/objects/",
                           data=json.dumps({"objects": [report, good]}),
                           headers={"Authorization": f"Token {token}", "Content-Type": TAXII, "Accept": TAXII})
    assert response.status_code == 202, response.text
    assert kz.store.object_json(good["id"]) is not None
    assert not kz.store.query("SELECT ref FROM report_refs WHERE report = ?", [report["id"]])
    assert client.get("/incidents").status_code in (200, 302)
