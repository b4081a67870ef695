"""An observable's id is bound to its content (docs/signing.md, step 3b): an SCO without
its type's required properties, or one whose id could be chosen freely, is refused, so
no one can plant a new version of this node's own observable."""
import json
import uuid

import pytest

from node.ingest import PEER, Door
from node.sco import deterministic_id
from node.verify import EXTERNAL, check
from conftest import incident_record


def own_url(node) -> dict:
    result = node.add_incident(incident_record(tlp="green"))
    report = json.loads(node.store.object_json(result.report_id))
    [url_id] = [ref for ref in report["object_refs"] if ref.startswith("url--")]
    return json.loads(node.store.object_json(url_id))


def test_a_url_without_value_cannot_become_the_newest_version_of_the_nodes_own_url(kz):
    url = own_url(kz)
    hollow = {"type": "url", "spec_version": "2.1", "id": url["id"], "x_note": "planted"}
    summary = kz.ingest.run([hollow], Door(PEER, source="uz"))
    assert summary.counts["rejected"] == 1
    assert "needs 'value'" in summary.outcomes[0].reason
    assert json.loads(kz.store.object_json(url["id"])) == url
    assert len(kz.store.versions_of(url["id"])) == 1


@pytest.mark.parametrize("sco, reason", [
    ({"type": "url"}, "needs 'value'"),
    ({"type": "url", "value": ""}, "needs 'value'"),
    ({"type": "domain-name", "value": 5}, "needs 'value'"),
    ({"type": "autonomous-system", "number": "64500"}, "needs 'number'"),
    ({"type": "directory"}, "needs 'path'"),
    ({"type": "mutex"}, "needs 'name'"),
    ({"type": "software", "vendor": "x"}, "needs 'name'"),
    ({"type": "file", "size": 4}, "needs 'hashes' or 'name'"),
    ({"type": "file", "hashes": {}}, "needs 'hashes' or 'name'"),
    ({"type": "artifact", "mime_type": "image/png"}, "needs 'payload_bin' or 'url'"),
    ({"type": "network-traffic", "src_port": 80}, "needs 'protocols'"),
    ({"type": "email-message", "subject": "x"}, "needs 'is_multipart'"),
    ({"type": "ipv4-addr"}, "needs 'value'"),
    ({"type": "mac-addr"}, "needs 'value'"),
])
def test_an_sco_without_its_required_properties_is_refused_under_any_id(sco, reason):
    for id_uuid in (uuid.uuid4(), uuid.uuid5(uuid.NAMESPACE_URL, "x")):
        obj = {**sco, "spec_version": "2.1", "id": f"{sco['type']}--{id_uuid}"}
        outcome = check(obj, EXTERNAL, {}).outcome
        assert outcome is not None and outcome.status == "rejected", obj
        assert reason in outcome.reason


def test_an_sco_with_no_id_contributing_property_needs_a_random_uuid4():
    account = {"type": "user-account", "spec_version": "2.1", "display_name": "Someone"}
    planted = {**account, "id": deterministic_id({"type": "user-account", "id": "", "user_id": "u1"})}
    outcome = check(planted, EXTERNAL, {}).outcome
    assert outcome is not None and "must have a UUIDv4 id" in outcome.reason
    assert check({**account, "id": f"user-account--{uuid.uuid4()}"}, EXTERNAL, {}).outcome is None


def test_an_sco_with_its_properties_and_its_own_id_still_passes():
    for sco in ({"type": "url", "value": "https://t.me/x"}, {"type": "file", "name": "a.png"},
                {"type": "autonomous-system", "number": 64500}, {"type": "email-message", "is_multipart": False,
                                                                  "subject": "s"}):
        obj = {**sco, "spec_version": "2.1", "id": ""}
        obj["id"] = deterministic_id(obj)
        assert check(obj, EXTERNAL, {}).outcome is None, sco
    mismatch = {"type": "url", "spec_version": "2.1", "value": "https://t.me/x",
                "id": deterministic_id({"type": "url", "value": "https://t.me/y"})}
    assert "does not match its content" in check(mismatch, EXTERNAL, {}).outcome.reason
