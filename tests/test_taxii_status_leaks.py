"""A POST's status answers a poster about an object it may not read exactly as about an
object the node does not hold (docs/security.md, "POST status answers"): no "already held"
for a rebuilt red observable, no "only the creator" for a guessed id. The audit log keeps
the truth."""
import json
import uuid

import pytest

from node.app import create_app
from node.sco import deterministic_id
from node.signing import sign
from node.wellknown import TLP_MARKINGS
from conftest import incident_record, set_feed

TAXII = "application/taxii+json;version=2.1"


@pytest.fixture
def posting(kz, uz):
    kz.trust_card(uz.card())
    set_feed(kz.home, "regional", writers=["uz"], readers=["uz"])
    token = kz.create_token("uz")
    client = create_app(kz.home).test_client()
    feed = kz.config.feeds["regional"].id

    def post(obj: dict) -> dict:
        response = client.post(f"/taxii2/api/collections/{feed}/objects/", data=json.dumps({"objects": [obj]}),
                               headers={"Authorization": f"Token {token}", "Accept": TAXII, "Content-Type": TAXII})
        assert response.status_code == 202, response.text
        status = response.get_json()
        status_read = client.get(f"/taxii2/api/status/{status['id']}/",
                                 headers={"Authorization": f"Token {token}", "Accept": TAXII}).get_json()
        assert status_read == status
        return status
    return post


def shape(status: dict) -> dict:
    """A status without what differs between any two posts: ids, times, versions."""
    drop = ("id", "request_timestamp")
    out = {k: v for k, v in status.items() if k not in drop}
    for key in ("successes", "failures", "pendings"):
        if key in out:
            out[key] = [{k: v for k, v in d.items() if k not in ("id", "version")} for d in out[key]]
    return out


def url_sco(value: str, tlp: str) -> dict:
    url = {"type": "url", "spec_version": "2.1", "id": "", "value": value,
           "object_marking_refs": [TLP_MARKINGS[tlp]]}
    url["id"] = deterministic_id(url)
    return url


def test_a_rebuilt_red_observable_is_answered_like_one_the_node_does_not_hold(kz, posting):
    held = "https://t.me/fakechannel/123"  # the url of incident_record()
    kz.add_incident(incident_record(tlp="red"))
    rebuilt = url_sco(held, "red")
    assert json.loads(kz.store.object_json(rebuilt["id"])) == rebuilt  # the very bytes the node holds
    answered = posting(rebuilt)
    fresh = posting(url_sco("https://t.me/never-seen/1", "red"))
    assert shape(answered) == shape(fresh)
    assert "already held" not in json.dumps(answered)
    assert answered["successes"][0]["version"] != kz.store.versions_of(rebuilt["id"])[0]["version"]
    audit = kz.store.query("SELECT event, reason FROM audit WHERE object_id = ?", [rebuilt["id"]])
    assert [a["event"] for a in audit] == ["duplicate"]


def threat_actor(uz, object_id: str) -> dict:
    return sign({"type": "threat-actor", "spec_version": "2.1", "id": object_id, "name": "Guess",
                 "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
                 "created_by_ref": uz.config.identity, "object_marking_refs": [TLP_MARKINGS["green"]]},
                uz.signing_key)


def test_a_guessed_id_of_a_red_threat_actor_is_answered_like_an_unheld_one(kz, uz, posting):
    result = kz.add_incident(incident_record(tlp="red", threat_actor="Quiet network"))
    report = json.loads(kz.store.object_json(result.report_id))
    [actor_id] = [ref for ref in report["object_refs"] if ref.startswith("threat-actor--")]
    answered = posting(threat_actor(uz, actor_id))
    fresh = posting(threat_actor(uz, f"threat-actor--{uuid.uuid4()}"))
    assert shape(answered) == shape(fresh) and answered["success_count"] == 1
    assert "creator" not in json.dumps(answered)
    assert json.loads(kz.store.object_json(actor_id))["created_by_ref"] == kz.config.identity
    [audit] = kz.store.query("SELECT event, reason FROM audit WHERE object_id = ?", [actor_id])
    assert "only the creator" in audit["reason"]


def test_an_equivocation_on_a_version_the_poster_may_not_read_is_answered_like_a_new_one(kz, uz, posting):
    result = kz.add_incident(incident_record(tlp="red", threat_actor="Quiet network"))
    report = json.loads(kz.store.object_json(result.report_id))
    [actor_id] = [ref for ref in report["object_refs"] if ref.startswith("threat-actor--")]
    held = json.loads(kz.store.object_json(actor_id))
    same_version = threat_actor(uz, actor_id)
    same_version.update(created=held["created"], modified=held["modified"])
    same_version = sign({k: v for k, v in same_version.items() if k != "extensions"}, uz.signing_key)
    answered = posting(same_version)
    assert answered["success_count"] == 1 and "equivocation" not in json.dumps(answered)


def test_what_the_poster_may_read_is_still_answered_truthfully(kz, uz, posting):
    result = kz.add_incident(incident_record(tlp="green", threat_actor="Loud network"))
    report = json.loads(kz.store.object_json(result.report_id))
    [actor_id] = [ref for ref in report["object_refs"] if ref.startswith("threat-actor--")]
    answered = posting(threat_actor(uz, actor_id))
    assert answered["failures"][0]["message"] == "only the creator of an object may version it"
    url = json.loads(kz.store.object_json(next(r for r in report["object_refs"] if r.startswith("url--"))))
    assert posting(url)["successes"][0]["message"] == "already held: duplicate"
