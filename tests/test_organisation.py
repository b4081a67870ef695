"""Who the node is: `init --org` and `card --org` put the organisation on the card (its
`name`), while the short node name stays the handle peers, invitations and trust commands
use. The renamed card travels like any card version."""
from __future__ import annotations

import json

import pytest
import yaml

from conftest import run_qalqan
from node.home import Node
from node.signing import signature_of
from node.trust import keys_of_card
from web_fixtures import ANALYST, log_in

MINISTRY = "Ministry of Culture and Information of the Republic of Kazakhstan"
RENAMED = "Ministry of Information and Social Development of the Republic of Kazakhstan"


@pytest.fixture
def pair(tmp_path):
    kz, uz = tmp_path / "kz", tmp_path / "uz"
    out = run_qalqan("init", "--name", "kz", "--country", "KZ", "--org", MINISTRY, home=kz)
    assert out.returncode == 0, out.stderr
    assert run_qalqan("init", "--name", "uz", "--country", "UZ", home=uz).returncode == 0
    (tmp_path / "kz.card").write_text(run_qalqan("card", home=kz).stdout)
    assert run_qalqan("peer", "add", "kz", "--card", tmp_path / "kz.card", "--url",
                      "http://127.0.0.1:9/taxii2/", home=uz).returncode == 0
    return kz, uz


def test_init_org_names_the_card_and_the_short_name_stays_the_handle(pair):
    kz, _ = pair
    card = json.loads(run_qalqan("card", home=kz).stdout)
    assert card["name"] == MINISTRY and card["identity_class"] == "organization"
    assert yaml.safe_load((kz / "config.yaml").read_text())["node"]["name"] == "kz"
    status = run_qalqan("status", home=kz).stdout
    assert "node kz (KZ)" in status and f"organisation {MINISTRY}" in status


def test_without_org_the_card_keeps_the_short_name(pair):
    _, uz = pair
    assert json.loads(run_qalqan("card", home=uz).stdout)["name"] == "uz"


def test_card_org_publishes_a_new_signed_version_that_a_partner_takes_from_an_export(pair, tmp_path):
    kz, uz = pair
    before = Node(kz).card()
    out = run_qalqan("card", "--org", RENAMED, home=kz)
    assert out.returncode == 0, out.stderr
    card = json.loads(out.stdout)
    assert card["name"] == RENAMED and card["id"] == before["id"] and card["modified"] > before["modified"]
    assert keys_of_card(card) == keys_of_card(before)
    assert signature_of(card)["key_id"] == Node(kz).signing_key.key_id
    assert Node(kz).card() == card

    bundle = tmp_path / "kz.json"
    bundle.write_text(run_qalqan("export", home=kz).stdout)
    exported = [o for o in json.loads(bundle.read_text())["objects"] if o["id"] == card["id"]]
    assert [o["name"] for o in exported] == [RENAMED]
    assert run_qalqan("import", bundle, "--from", "kz", home=uz).returncode == 0
    assert Node(uz).trust.pinned_card(card["id"])["name"] == RENAMED
    trusted = run_qalqan("trust", "list", home=uz).stdout
    assert f"{RENAMED}  KZ  {card['id']}" in trusted and "(peer kz)" in trusted
    # The handle still names the partner: a trust command by peer name finds its card.
    refused = run_qalqan("trust", "remove", "kz", home=uz)
    assert refused.returncode == 2 and "peer kz in config.yaml uses this card" in refused.stderr


@pytest.mark.parametrize("org, message", [("", "required"), ("x" * 301, "longer than 300"),
                                          ("Ministry\x1b[31m", "control characters")])
def test_a_bad_org_is_refused_naming_the_option_and_changes_nothing(pair, org, message):
    kz, _ = pair
    before = Node(kz).card()
    out = run_qalqan("card", "--org", org, home=kz)
    assert out.returncode == 2 and "--org" in out.stderr and message in out.stderr
    assert Node(kz).card() == before


def test_the_ui_and_taxii_discovery_show_the_organisation(pair):
    kz, _ = pair
    from node.app import create_app
    from node.users import add_user
    node = Node(kz)
    add_user(node.store, ANALYST[0], "analyst", ANALYST[1])
    app = create_app(kz)
    client = app.test_client()
    assert log_in(client, *ANALYST).status_code == 302
    page = client.get("/incidents").get_data(as_text=True)
    assert f'<span class="organisation">{MINISTRY}</span>' in page
    discovery = client.get("/taxii2/", headers={"Accept": "application/taxii+json;version=2.1"}).get_json()
    assert MINISTRY in discovery["description"] and discovery["title"].startswith("Qalqan node kz")
