"""A feed's `profile`: set by `feed add --profile`, checked when the feed file loads, and
deciding which feeds OpenCTI's own objects may enter, from this node or relayed."""
from __future__ import annotations

import json

from conftest import incident_record, run_qalqan, set_feed
from node.home import Node
from node.ingest import PEER, Door
from node.policy import FeedRule, feeds_for_own, feeds_for_relay, profile_of


def test_feed_add_profile_writes_it_and_feed_list_shows_it(kz):
    out = run_qalqan("feed", "add", "octi", "--max-tlp", "green", "--profile", "opencti", home=kz.home)
    assert out.returncode == 0, out.stderr
    assert Node(kz.home).config.feed("octi").profile == "opencti"
    assert "octi" in run_qalqan("feed", "list", home=kz.home).stdout.split("profile opencti")[0].splitlines()[-1]
    refused = run_qalqan("feed", "add", "other", "--max-tlp", "green", "--profile", "misp", home=kz.home)
    assert refused.returncode == 2 and "--profile" in refused.stderr


def test_a_feed_file_with_an_unknown_profile_is_refused_naming_file_and_key(kz):
    (kz.home / "feeds" / "bad.yaml").write_text(
        "id: 3f0c2a9e-8d1b-4c5e-9f7a-1b2c3d4e5f60\ntitle: Bad\nmax_tlp: green\nprofile: misp\n")
    out = run_qalqan("status", home=kz.home)
    assert out.returncode != 0 and "bad.yaml" in out.stderr and "'profile'" in out.stderr


def test_only_opencti_feeds_get_narratives_channels_and_their_relationships_from_anyone():
    feeds = [FeedRule("plain", "green", frozenset({"uz"})), FeedRule("octi", "green", frozenset({"uz"}),
                                                                      profile="opencti")]
    narrative = {"type": "narrative", "id": "narrative--1"}
    uses = {"type": "relationship", "source_ref": "incident--1", "target_ref": "channel--1"}
    plain = {"type": "relationship", "source_ref": "incident--1", "target_ref": "location--1"}
    assert [profile_of(o) for o in (narrative, uses, plain)] == ["opencti", "opencti", None]
    assert feeds_for_own("green", feeds, None, profile_of(narrative)) == ["octi"]
    assert feeds_for_relay("green", "uz", feeds, profile_of(uses)) == ["octi"]
    assert feeds_for_own("green", feeds, None, profile_of(plain)) == ["plain", "octi"]


def test_a_partners_signed_narrative_is_relayed_only_into_an_opencti_feed_it_writes(kz, uz):
    kz.trust_card(uz.card())
    set_feed(kz.home, "regional", writers=["uz"])
    run_qalqan("feed", "add", "octi", "--max-tlp", "green", "--profile", "opencti", home=kz.home)
    set_feed(kz.home, "octi", writers=["uz"])
    result = uz.add_incident(incident_record(tlp="green"))
    narratives = [json.loads(r["json"]) for r in uz.store.query("SELECT json FROM objects WHERE type = 'narrative'")]
    node = Node(kz.home)
    node.ingest.run([uz.card(), *narratives], Door.for_peer("uz", None))
    feeds = {node.config.feeds[n].id: n for n in node.config.feeds}
    entries = {feeds[r["feed"]] for r in node.store.query("SELECT feed FROM feed_entries WHERE id = ?",
                                                          [narratives[0]["id"]])}
    assert result.incident_id and entries == {"octi"}
