"""Sightings and opinions about an incident (issue 12, points 2 and 3): signed STIX
`sighting` and `opinion` objects carrying the incident's TLP, shared back to its creator
always and to third parties only when green or clear; indexed for the page's timeline,
the opinions and the list's disputed filter; one clear error and nothing stored."""
import json

import pytest

from node.errors import InputError
from node.reaction_index import DISPUTED_TERM, opinions_of, sightings_of
from node.signing import SIGNATURE_EXT
from node.web.index import Filters, list_incidents
from conftest import incident_record, set_feed
from web_fixtures import import_from

SIGHTING = {"first_seen": "2026-11-29 07:45", "last_seen": "2026-11-30", "count": 12, "country": "AZ",
            "platform": "telegram", "urls": ["https://t.me/az_news/77"],
            "accounts": [{"platform": "telegram", "login": "@az_news"}], "note": "Reposted in Azerbaijani."}


@pytest.fixture
def pair(kz, uz):
    """UZ holds KZ's green and amber incidents, as a partner reading KZ's feeds would."""
    uz.trust_card(kz.card())
    kz.trust_card(uz.card())
    uz.add_peer("kz", kz.card(), "http://127.0.0.1:9/taxii2/", token=None, pull=[], push=[])
    return kz, uz


def latest(node, object_id) -> dict:
    return json.loads(node.store.object_json(object_id))


def objects_of_type(node, kind) -> list[dict]:
    return [json.loads(r["json"]) for r in node.store.query("SELECT json FROM objects WHERE type = ? AND latest = 1",
                                                            [kind])]


def feeds_holding(node, object_id) -> set[str]:
    names = {f.id: name for name, f in node.config.feeds.items()}
    return {names[r["feed"]] for r in node.store.query(
        "SELECT feed FROM feed_entries WHERE id = ? AND deleted = 0", [object_id])}


def test_a_sighting_of_a_partners_incident_is_a_signed_stix_sighting_with_what_was_seen(pair):
    kz, uz = pair
    theirs = kz.add_incident(incident_record(tlp="green"))
    import_from(uz, kz)
    uz.add_sighting(theirs.incident_id, SIGHTING)

    [sighting] = objects_of_type(uz, "sighting")
    assert sighting["sighting_of_ref"] == theirs.incident_id
    assert sighting["created_by_ref"] == uz.config.identity and SIGNATURE_EXT in sighting["extensions"]
    assert (sighting["count"], sighting["labels"], sighting["description"]) == (12, ["platform:telegram"],
                                                                                 "Reposted in Azerbaijani.")
    assert sighting["first_seen"].startswith("2026-11-29T07:45:00")
    assert latest(uz, sighting["where_sighted_refs"][0])["country"] == "AZ"
    observed = latest(uz, sighting["observed_data_refs"][0])
    values = sorted(latest(uz, ref).get("value") or latest(uz, ref).get("account_login")
                    for ref in observed["object_refs"])
    assert values == ["@az_news", "https://t.me/az_news/77"]
    assert sighting["object_marking_refs"] == latest(uz, theirs.incident_id)["object_marking_refs"]
    [row] = sightings_of(uz.store, theirs.incident_id)
    assert (row["country"], row["platform"], row["count"]) == ("AZ", "telegram", 12)


@pytest.mark.parametrize("change, field", [
    ({"first_seen": ""}, "first_seen"), ({"first_seen": "yesterday"}, "first_seen"),
    ({"last_seen": "2026-11-01"}, "last_seen"), ({"count": 0}, "count"), ({"count": "many"}, "count"),
    ({"country": "XX"}, "country"), ({"platform": "Tele gram"}, "platform"), ({"urls": ["ftp://x"]}, "urls"),
    ({"accounts": [{"login": "x"}]}, "accounts"), ({"colour": "red"}, "colour"),
])
def test_a_bad_sighting_field_is_named_and_nothing_is_stored(kz, change, field):
    own = kz.add_incident(incident_record())
    before = kz.store.one("SELECT COUNT(*) AS n FROM objects")["n"]
    with pytest.raises(InputError, match=f"^{field}: "):
        kz.add_sighting(own.incident_id, {**SIGHTING, **change})
    assert kz.store.one("SELECT COUNT(*) AS n FROM objects")["n"] == before


def test_reactions_need_a_held_incident_that_is_not_withdrawn(kz):
    with pytest.raises(InputError, match="^incident: no incident"):
        kz.add_sighting("incident--00000000-0000-4000-8000-000000000000", SIGHTING)
    own = kz.add_incident(incident_record())
    kz.withdraw_incident(own.incident_id, "wrong")
    with pytest.raises(InputError, match="^incident: .*withdrawn"):
        kz.add_sighting(own.incident_id, SIGHTING)


def test_an_amber_reaction_goes_back_to_the_creator_only_a_green_one_wherever_green_goes(pair):
    kz, uz = pair
    set_feed(uz.home, "bilateral", readers=["kz"], writers=["kz"], max_tlp="amber")
    set_feed(uz.home, "regional", readers=["kz", "az"], writers=["kz", "az"], max_tlp="green")
    uz = type(uz)(uz.home)
    amber = kz.add_incident(incident_record(tlp="amber"))
    green = kz.add_incident(incident_record(tlp="green", title="Green one"))
    import_from(uz, kz)
    uz.add_sighting(amber.incident_id, SIGHTING)
    uz.add_sighting(green.incident_id, SIGHTING)
    by_incident = {s["sighting_of_ref"]: s["id"] for s in objects_of_type(uz, "sighting")}
    assert feeds_holding(uz, by_incident[amber.incident_id]) == {"bilateral"}
    assert feeds_holding(uz, by_incident[green.incident_id]) == {"regional", "bilateral"}

    red = kz.add_incident(incident_record(tlp="red", title="Red one"))
    kz.add_sighting(red.incident_id, SIGHTING)
    own_red = [s["id"] for s in objects_of_type(kz, "sighting") if s["sighting_of_ref"] == red.incident_id]
    assert feeds_holding(kz, own_red[0]) == set()


def test_an_opinion_is_one_per_node_versioned_and_a_disagreement_marks_the_incident_disputed(pair):
    kz, uz = pair
    theirs = kz.add_incident(incident_record())
    import_from(uz, kz)
    uz.record_opinion(theirs.incident_id, "agree", "Our fact-checkers confirm it.")
    uz.record_opinion(theirs.incident_id, "disagree", "The video is older, from 2019, but authentic.")
    [opinion] = objects_of_type(uz, "opinion")
    assert opinion["opinion"] == "disagree" and opinion["object_refs"] == [theirs.incident_id]
    assert opinion["explanation"] == "The video is older, from 2019, but authentic."
    assert len(uz.store.versions_of(opinion["id"])) == 2 and opinion["created"] != opinion["modified"]
    assert [o["opinion"] for o in opinions_of(uz.store, theirs.incident_id)] == ["disagree"]
    disputed = list_incidents(uz.store, Filters(terms={"opinion": "disputed"}))
    assert [r["incident_id"] for r in disputed] == [theirs.incident_id]
    uz.record_opinion(theirs.incident_id, "strongly-agree")
    assert list_incidents(uz.store, Filters(terms={"opinion": "disputed"})) == []


def test_opinions_take_the_five_stix_values_and_not_on_own_incidents(pair):
    kz, uz = pair
    own = kz.add_incident(incident_record())
    with pytest.raises(InputError, match="^opinion: 'maybe' is not one of strongly-disagree, disagree, neutral"):
        kz.record_opinion(own.incident_id, "maybe")
    with pytest.raises(InputError, match="^incident: .*recorded by this node"):
        kz.record_opinion(own.incident_id, "agree")


def test_the_cli_adds_a_sighting_and_an_opinion(pair, qalqan, tmp_path):
    import yaml
    kz, uz = pair
    theirs = kz.add_incident(incident_record())
    import_from(uz, kz)
    path = tmp_path / "sighting.yaml"
    path.write_text(yaml.safe_dump(SIGHTING, allow_unicode=True))
    out = qalqan("sighting", "add", theirs.incident_id, str(path), home=uz.home)
    assert out.returncode == 0, out.stderr
    out = qalqan("opinion", theirs.incident_id, "strongly-disagree", "--text", "Satire.", home=uz.home)
    assert out.returncode == 0, out.stderr
    bad = qalqan("opinion", theirs.incident_id, "perhaps", home=uz.home)
    assert bad.returncode == 2 and "invalid choice: 'perhaps'" in bad.stderr
    fresh = type(uz)(uz.home)
    assert len(objects_of_type(fresh, "sighting")) == 1
    assert objects_of_type(fresh, "opinion")[0]["opinion"] == "strongly-disagree"


# -- the UI --------------------------------------------------------------------------

def test_the_sighting_form_records_one_and_the_page_shows_the_timeline(analyst, node):
    from web_fixtures import post_form
    own = node.add_incident(incident_record())
    bad = post_form(analyst, f"/incidents/{own.incident_id}/sightings/new", {"first_seen": "soon", "country": "KZ"})
    assert bad.status_code == 400 and 'id="row-first_seen"' in bad.text
    assert node.store.one("SELECT COUNT(*) AS n FROM objects WHERE type = 'sighting'")["n"] == 0
    done = post_form(analyst, f"/incidents/{own.incident_id}/sightings/new",
                     {"first_seen": "2026-11-29 07:45", "count": "3", "country": "UZ", "platform": "tiktok",
                      "urls": "https://www.tiktok.com/@x/video/1", "accounts": "tiktok @x", "note": "Dubbed in Uzbek"})
    assert done.status_code == 302, done.text
    page = analyst.get(f"/incidents/{own.incident_id}").text
    sightings = page.split('id="sightings"', 1)[1].split('id="opinions"', 1)[0]
    assert 'class="timeline-row"' in sightings and "UZ <small>(3)</small>" in sightings
    assert "Dubbed in Uzbek" in sightings and "tiktok" in sightings


def test_the_opinion_form_is_offered_on_a_partners_incident_only(analyst, node, make_home):
    from node.home import Node
    from web_fixtures import csrf_from
    uz = Node(make_home("uz", "UZ", 8002))
    theirs = uz.add_incident(incident_record())
    own = node.add_incident(incident_record(title="Ours"))
    import_from(node, uz)
    assert "opinion-form" not in analyst.get(f"/incidents/{own.incident_id}").text
    page = analyst.get(f"/incidents/{theirs.incident_id}").text
    assert "opinion-form" in page
    done = analyst.post(f"/incidents/{theirs.incident_id}/opinion",
                        data={"csrf_token": csrf_from(page), "opinion": "disagree", "explanation": "Authentic."})
    assert done.status_code == 302
    shown = analyst.get(f"/incidents/{theirs.incident_id}").text.split('id="opinions"', 1)[1]
    assert "disagree" in shown and "Authentic." in shown
    assert theirs.incident_id in analyst.get("/incidents?opinion=disputed").text
    assert own.incident_id not in analyst.get("/incidents?opinion=disputed").text
