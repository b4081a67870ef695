"""Our extensions (node/schemas/) are checked on ingest: a validly signed partner
incident whose disinformation extension is malformed is refused with the reason, stored
nowhere and so never relayed."""
import copy
import json

import pytest

from node.app import create_app
from node.signing import SIGNATURE_EXT, sign
from node.wellknown import DISINFO_EXT, NODE_KEYS_EXT
from conftest import incident_record, set_feed

TAXII = "application/taxii+json;version=2.1"


def partner_incident(uz) -> dict:
    result = uz.add_incident(incident_record(tlp="green"))
    return json.loads(uz.store.object_json(result.incident_id))


def resigned(obj: dict, uz, change) -> dict:
    obj = copy.deepcopy(obj)
    del obj["extensions"][SIGNATURE_EXT]
    change(obj["extensions"][DISINFO_EXT])
    return sign(obj, uz.signing_key)


@pytest.mark.parametrize("change, where", [
    (lambda ext: ext.update(first_seen="99999-01-01T00:00:00Z"), ".first_seen"),
    (lambda ext: ext.update(verdict="lol"), ".verdict"),
    (lambda ext: ext.update(languages="ru"), ".languages"),
    (lambda ext: ext.update(target_countries=[{"deep": 1}]), ".target_countries[0]"),
    (lambda ext: ext.pop("case_id"), "case_id"),
    (lambda ext: ext.update(extra=1), "extra"),
])
def test_a_signed_partner_incident_with_a_malformed_extension_is_refused_and_never_relayed(kz, uz, change, where):
    kz.trust_card(uz.card())
    set_feed(kz.home, "regional", writers=["uz"], readers=["uz"])
    token = kz.create_token("uz")
    client = create_app(kz.home).test_client()
    feed = kz.config.feeds["regional"].id
    bad = resigned(partner_incident(uz), uz, change)
    response = client.post(f"/taxii2/api/collections/{feed}/objects/", data=json.dumps({"objects": [bad]}),
                           headers={"Authorization": f"Token {token}", "Accept": TAXII, "Content-Type": TAXII})
    assert response.status_code == 202, response.text
    [failure] = response.get_json()["failures"]
    assert "disinformation-incident-v1.json is malformed" in failure["message"]
    assert where in failure["message"]
    assert kz.store.object_json(bad["id"]) is None
    assert kz.store.one("SELECT COUNT(*) AS n FROM feed_entries WHERE id = ?", [bad["id"]])["n"] == 0
    audit = kz.store.query("SELECT * FROM audit WHERE object_id = ?", [bad["id"]])
    assert audit and "malformed" in audit[0]["reason"]


def test_a_well_formed_partner_incident_still_passes(kz, uz):
    kz.trust_card(uz.card())
    incident = partner_incident(uz)
    assert kz.ingest.run([resigned(incident, uz, lambda ext: None)], door_of("uz")).counts["accepted"] == 1


def test_a_card_with_malformed_keys_is_refused_by_its_schema(kz, uz):
    card = copy.deepcopy(uz.card())
    card["extensions"][NODE_KEYS_EXT]["keys"][0]["algorithm"] = "RSA"
    summary = kz.ingest.run([card], door_of("uz"))
    assert summary.counts["rejected"] == 1 and "node-keys-v1.json is malformed" in summary.outcomes[0].reason


def door_of(peer: str):
    from node.ingest import PEER, Door
    return Door(PEER, source=peer)
