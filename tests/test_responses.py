"""Responses (issue 12, point 4): a countermeasure recorded against an incident becomes a
signed course-of-action and a `mitigates` relationship marked with the incident's TLP,
placed where the incident goes and back to its author; bad input is one error naming the
field, with nothing stored; every door's responses are indexed."""
import copy
import json

import pytest
import yaml

from node.errors import InputError
from node.ingest import PEER, Door
from node.response_index import responses_of
from node.signing import SIGNATURE_EXT, sign
from node.wellknown import RESPONSE_EXT, TLP_MARKINGS
from conftest import incident_record, set_feed

RESPONSE = {"kind": "debunk-published", "at": "2026-11-21 09:30",
            "description": "Our fact-check desk published a debunk in Kazakh and Russian.",
            "url": "https://factcheck.example.kz/border", "countermeasures": ["C00125", "C00008"]}


def latest(node, object_id) -> dict:
    return json.loads(node.store.object_json(object_id))


def actions(node) -> int:
    return node.store.one("SELECT COUNT(*) AS n FROM objects WHERE type = 'course-of-action'")["n"]


def feeds_of(node, object_id) -> set[str]:
    names = {f.id: name for name, f in node.config.feeds.items()}
    return {names[f] for f in node.store.feeds_of(object_id)}


def test_response_add_signs_a_course_of_action_that_mitigates_the_incident(kz, qalqan, tmp_path):
    incident = kz.add_incident(incident_record(tlp="amber")).incident_id
    path = tmp_path / "response.yaml"
    path.write_text(yaml.safe_dump(RESPONSE), "utf-8")
    out = qalqan("response", "add", incident, path, home=kz.home)
    assert out.returncode == 0, out.stderr
    action = latest(kz, out.stdout.strip())

    assert action["type"] == "course-of-action" and SIGNATURE_EXT in action["extensions"]
    assert action["created_by_ref"] == kz.config.identity
    assert action["object_marking_refs"] == [TLP_MARKINGS["amber"]]
    assert action["description"] == RESPONSE["description"]
    case_id = latest(kz, incident)["external_references"][0]["external_id"]
    assert action["name"] == f"Debunk published: {case_id}, 2026-11-21 09:30 UTC"
    assert action["extensions"][RESPONSE_EXT] == {
        "extension_type": "property-extension", "kind": "debunk-published", "taken": "2026-11-21T09:30:00.000Z",
        "incident_ref": incident, "url": RESPONSE["url"], "countermeasures": ["C00125", "C00008"]}
    assert action["external_references"] == [
        {"source_name": "DISARM", "external_id": "C00125"}, {"source_name": "DISARM", "external_id": "C00008"},
        {"source_name": "response", "url": RESPONSE["url"]}]

    [relation] = [json.loads(r["json"]) for r in kz.store.query(
        "SELECT json FROM objects WHERE type = 'relationship' AND instr(json, ?) > 0", [action["id"]])]
    assert (relation["relationship_type"], relation["source_ref"], relation["target_ref"]) == (
        "mitigates", action["id"], incident)
    assert relation["object_marking_refs"] == [TLP_MARKINGS["amber"]] and SIGNATURE_EXT in relation["extensions"]
    assert feeds_of(kz, action["id"]) == feeds_of(kz, incident) == {"bilateral"}

    [row] = responses_of(kz.store.conn, incident)
    assert (row["kind"], row["taken"], row["countermeasures"], row["recorded_by"], row["node_name"]) == (
        "debunk-published", "2026-11-21T09:30:00.000Z", "C00125 C00008", "cli", "kz")


@pytest.mark.parametrize("change, message", [
    ({"kind": None}, "kind: this field is required"),
    ({"kind": "tweeted"}, "kind: 'tweeted' is not one of debunk-published, platform-notified"),
    ({"at": None}, "at: this field is required"),
    ({"at": "yesterday"}, "at: 'yesterday' is not a date such as 2026-11-29"),
    ({"at": "2999-01-01"}, "at: 2999-01-01T00:00:00.000Z is later than now"),
    ({"description": None}, "description: this field is required"),
    ({"description": "  "}, "description: this field is required"),
    ({"description": ["a list"]}, "description: expected text"),
    ({"description": "x" * 20_001}, "description: longer than 20000 characters"),
    ({"url": "javascript:alert(1)"}, "url: 'javascript:alert(1)' is not an http(s) URL"),
    ({"countermeasures": "C00125"}, "countermeasures: expected a list"),
    ({"countermeasures": ["T0023"]}, "countermeasures: 'T0023' is not a DISARM countermeasure id"),
    ({"countermeasures": ["C09999"]}, "countermeasures: C09999 is not a countermeasure of the loaded DISARM"),
    ({"taken_by": "ana"}, "taken_by: unknown field (known: kind, at, description, url, countermeasures)"),
])
def test_each_bad_field_is_one_error_naming_it_and_nothing_is_stored(kz, qalqan, tmp_path, change, message):
    incident = kz.add_incident(incident_record()).incident_id
    record = {k: v for k, v in {**RESPONSE, **change}.items() if v is not None}
    path = tmp_path / "response.json"
    path.write_text(json.dumps(record), "utf-8")
    before = kz.store.one("SELECT COUNT(*) AS n FROM objects")["n"]
    out = qalqan("response", "add", incident, path, home=kz.home)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith(f"qalqan: {message}"), out.stderr
    assert kz.store.one("SELECT COUNT(*) AS n FROM objects")["n"] == before and actions(kz) == 0
    assert responses_of(kz.store.conn, incident) == []


def test_a_response_needs_an_incident_held_here_and_not_withdrawn(kz):
    with pytest.raises(InputError, match="^incident: no incident 'incident--00000000-"):
        kz.add_response("incident--00000000-0000-4000-8000-000000000000", RESPONSE)
    with pytest.raises(InputError, match="^incident: no incident 'identity--"):
        kz.add_response(kz.config.identity, RESPONSE)
    incident = kz.add_incident(incident_record()).incident_id
    kz.withdraw_incident(incident, "Satire, not a fake.")
    with pytest.raises(InputError, match="^incident: .* was withdrawn by its source"):
        kz.add_response(incident, RESPONSE)
    assert actions(kz) == 0


def test_times_take_the_incident_forms_and_a_kind_of_the_list(kz):
    incident = kz.add_incident(incident_record()).incident_id
    for at, taken in (("2026-11-21", "2026-11-21T00:00:00.000Z"), ("2026-11-21T14:00:00+05:00",
                                                                     "2026-11-21T09:00:00.000Z")):
        result = kz.add_response(incident, {"kind": "platform-notified", "at": at, "description": "Reported."})
        ext = latest(kz, result.response_id)["extensions"][RESPONSE_EXT]
        assert ext == {"extension_type": "property-extension", "kind": "platform-notified", "taken": taken,
                       "incident_ref": incident}
        assert "external_references" not in latest(kz, result.response_id)


@pytest.fixture
def partner_incident(kz, uz):
    """UZ holds an incident of KZ's as a peer of KZ: KZ's card pinned, KZ in its config."""
    uz.add_peer("kz", kz.card(), "http://127.0.0.1:9/taxii2/")
    set_feed(uz.home, "bilateral", readers=["kz"], writers=["kz"])
    set_feed(uz.home, "regional", readers=["kz", "az"], writers=["kz"])
    (uz.home / "feeds" / "uz-az.yaml").write_text(yaml.safe_dump(
        {"id": "6f0d3a0c-6a55-4c5e-9a57-0e4b1d3c2a10", "title": "UZ-AZ", "max_tlp": "amber",
         "readers": ["az"], "writers": ["az"]}), "utf-8")
    uz.reload_config_if_changed(min_interval=0)

    def receive(tlp: str) -> str:
        result = kz.add_incident(incident_record(tlp=tlp))
        objects = [json.loads(r["json"]) for r in kz.store.query("SELECT json FROM objects WHERE created_by = ?"
                                                                 " AND type != 'identity'", [kz.config.identity])]
        assert uz.ingest.run(objects, Door(PEER, source="kz")).failures == []
        return result.incident_id
    return receive


def test_a_response_to_a_partners_amber_incident_goes_back_to_its_author_only(uz, partner_incident):
    incident = partner_incident("amber")
    assert feeds_of(uz, incident) == {"bilateral"}
    result = uz.add_response(incident, RESPONSE)
    assert latest(uz, result.response_id)["object_marking_refs"] == [TLP_MARKINGS["amber"]]
    assert feeds_of(uz, result.response_id) == feeds_of(uz, result.relationship_id) == {"bilateral"}


def test_a_response_to_a_partners_green_incident_goes_where_the_incident_goes(uz, partner_incident):
    incident = partner_incident("green")
    result = uz.add_response(incident, RESPONSE)
    assert feeds_of(uz, result.response_id) == feeds_of(uz, incident) == {"bilateral", "regional"}
    assert "uz-az" not in feeds_of(uz, result.response_id)


def test_a_partners_response_is_indexed_versioned_and_dropped_when_revoked(kz, uz, partner_incident):
    incident = partner_incident("green")
    result = uz.add_response(incident, RESPONSE)
    kz.trust_card(uz.card())
    action, relation = latest(uz, result.response_id), latest(uz, result.relationship_id)
    assert kz.ingest.run([action, relation], Door(PEER, source="uz")).failures == []
    [row] = responses_of(kz.store.conn, incident)
    assert (row["origin"], row["source"], row["node_name"], row["recorded_by"]) == ("peer", "uz", "uz", None)

    def version(change) -> dict:
        newer = copy.deepcopy(action)
        del newer["extensions"][SIGNATURE_EXT]
        newer["modified"] = "2030-01-01T00:00:00.000Z"
        change(newer)
        return sign(newer, uz.signing_key)
    assert kz.ingest.run([version(lambda o: o["extensions"][RESPONSE_EXT].update(kind="content-removed"))],
                         Door(PEER, source="uz")).failures == []
    assert [r["kind"] for r in responses_of(kz.store.conn, incident)] == ["content-removed"]
    revoked = version(lambda o: o.update(revoked=True, modified="2030-01-02T00:00:00.000Z"))
    assert kz.ingest.run([revoked], Door(PEER, source="uz")).failures == []
    assert responses_of(kz.store.conn, incident) == []


@pytest.mark.parametrize("change, where", [
    (lambda ext: ext.update(kind="Not A Code"), ".kind"),
    (lambda ext: ext.update(taken="tomorrow"), ".taken"),
    (lambda ext: ext.update(incident_ref="report--1"), ".incident_ref"),
    (lambda ext: ext.update(countermeasures=["T0023"]), ".countermeasures[0]"),
    (lambda ext: ext.pop("incident_ref"), "incident_ref"),
    (lambda ext: ext.update(analyst="ana"), "analyst"),
])
def test_a_signed_response_with_a_malformed_extension_is_refused(kz, uz, partner_incident, change, where):
    incident = partner_incident("green")
    action = copy.deepcopy(latest(uz, uz.add_response(incident, RESPONSE).response_id))
    del action["extensions"][SIGNATURE_EXT]
    change(action["extensions"][RESPONSE_EXT])
    kz.trust_card(uz.card())
    [failure] = kz.ingest.run([sign(action, uz.signing_key)], Door(PEER, source="uz")).failures
    assert "response-v1.json is malformed" in failure.reason and where in failure.reason
    assert kz.store.object_json(action["id"]) is None


def test_pycti_imports_the_response_as_a_course_of_action_that_mitigates_the_incident(kz):
    from opencti_fixtures import GraphqlRecorder, run_pycti
    incident = kz.add_incident(incident_record(tlp="green")).incident_id
    response = kz.add_response(incident, RESPONSE).response_id
    objects = [json.loads(r["json"]) for r in kz.store.query("SELECT json FROM objects WHERE latest = 1")]
    recorder = GraphqlRecorder(run_pycti("import", objects)["mutations"])
    [action] = recorder.inputs("CourseOfActionAdd")
    assert action["stix_id"] == response and action["description"] == RESPONSE["description"]
    assert action["name"].startswith("Debunk published: KZ-")
    assert action["createdBy"] == kz.config.identity
    relations = {(r["relationship_type"], r["fromId"], r["toId"]) for r in recorder.inputs("StixCoreRelationshipAdd")}
    assert ("mitigates", response, incident) in relations
    references = {(r.get("source_name"), r.get("external_id") or r.get("url"))
                  for r in recorder.inputs("ExternalReferenceAdd")}
    assert {("DISARM", "C00125"), ("DISARM", "C00008"), ("response", RESPONSE["url"])} <= references
