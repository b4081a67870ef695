"""/misp/<feed id>/: each feed as a native MISP feed, read over HTTP from `qalqan serve`
with pymisp, behind the feed's TAXII credentials and TLP ceiling."""
from __future__ import annotations

import base64
import csv
import io
import json
import time
from typing import Iterator

import pytest
import requests
from pymisp import MISPEvent
from pymispgalaxies import Clusters

from node.incident import stix_now
from node.misp.index import fresh
from node.signing import SIGNATURE_EXT, sign

from conftest import incident_record
from nodes import edit_feed, running_node, server_log, serving
from public_fixtures import withdraw
from taxii_fixtures import World, build_world

LEVELS = ("clear", "green", "amber", "amber+strict", "red")


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[World, dict[str, str]]]:
    """kz with one incident per TLP level, served by `qalqan serve`; yields the world
    and event uuid → TLP level."""
    world = build_world(tmp_path_factory.mktemp("misp"))
    node = world.node()
    levels = {}
    for level in LEVELS:
        result = node.add_incident(incident_record(title=f"{level} incident", tlp=level))
        levels[result.report_id.split("--", 1)[1]] = level
    with running_node(world.home) as base:
        world.base = base
        yield world, levels


def url(world: World, feed: str, leaf: str) -> str:
    return f"{world.base}/misp/{world.feeds[feed]}/{leaf}"


def basic(world: World, peer: str) -> dict:
    pair = f"{peer}:{world.tokens[peer]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def get(world: World, feed: str, leaf: str, headers: dict | None = None) -> requests.Response:
    return requests.get(url(world, feed, leaf), headers=headers or {}, timeout=30)


def load_feed(world: World, feed: str, headers: dict) -> tuple[dict, list[tuple[str, str]], dict[str, MISPEvent]]:
    """What a MISP instance fetches: the manifest, hashes.csv, then each event."""
    manifest = get(world, feed, "manifest.json", headers)
    assert manifest.status_code == 200 and manifest.headers["Content-Type"].startswith("application/json")
    hashes = get(world, feed, "hashes.csv", headers)
    assert hashes.status_code == 200
    rows = [tuple(r) for r in csv.reader(io.StringIO(hashes.text))]
    events = {}
    for event_uuid in manifest.json():
        response = get(world, feed, f"{event_uuid}.json", headers)
        assert response.status_code == 200
        event = MISPEvent()
        event.load(response.text)
        events[event_uuid] = event
    return manifest.json(), rows, events


def test_a_partner_loads_the_feed_with_pymisp_and_gets_each_incident_up_to_the_ceiling(served):
    world, levels = served
    manifest, hashes, events = load_feed(world, "bilateral", world.auth("uz"))  # ceiling amber
    assert {levels[u] for u in events} == {"clear", "green", "amber"}
    for event_uuid, event in events.items():
        assert event.uuid == event_uuid
        assert manifest[event_uuid] == event.manifest[event_uuid]  # the header MISP lists is the event's
        assert {(h, event_uuid) for h in event.attributes_hashes("md5")} == {row for row in hashes if row[1] == event_uuid}
    assert {row[1] for row in hashes} == set(events)


def test_each_event_holds_the_incident_and_its_tags(served):
    world, levels = served
    record = incident_record()
    galaxy = {v.to_dict()["meta"]["external_id"]: v.value
              for v in Clusters().get("disarm-techniques").cluster_values.values()}
    _, _, events = load_feed(world, "regional", world.auth("uz"))  # ceiling green
    assert {levels[u] for u in events} == {"clear", "green"}
    for event_uuid, event in events.items():
        names = [t.name for t in event.tags]
        assert [n for n in names if n.startswith("tlp:")] == [f"tlp:{levels[event_uuid]}"]
        assert 'qalqan:verdict="fabricated"' in names and 'qalqan:target-country="UZ"' in names
        assert [n for n in names if n.startswith("misp-galaxy:")] == \
            [f'misp-galaxy:disarm-techniques="{galaxy[t]}"' for t in record["disarm"]]
        values = {(a.type, a.value) for a in event.attributes}
        assert {("text", record["claim"]), ("link", record["fact_check_url"]), ("url", record["urls"][0]),
                ("domain", "t.me"), ("sha256", record["media_sha256"][0]),
                ("threat-actor", record["threat_actor"])} <= values
        [account] = [o for o in event.objects if o.name == "user-account"]
        assert {(a.object_relation, a.value) for a in account.attributes} == \
            {("username", "@fakechannel"), ("account-type", "telegram")}
        [report] = event.event_reports
        assert "Verdict: fabricated" in report.content and "Confidence: 85/100" in report.content
        assert event.Orgc.name == "kz" and event.date.isoformat() == "2026-11-20"


def test_http_basic_as_taxii_accepts_reads_the_same_feed(served):
    world, _ = served
    assert get(world, "bilateral", "manifest.json", basic(world, "uz")).json() == \
        get(world, "bilateral", "manifest.json", world.auth("uz")).json()


def test_the_public_feed_needs_no_credentials_and_holds_clear_only(served):
    world, levels = served
    _, _, events = load_feed(world, "public", {})
    assert {levels[u] for u in events} == {"clear"}


def taxii_manifest(world: World, feed: str, headers: dict) -> requests.Response:
    return requests.get(world.collection_url(feed) + "manifest/",
                        headers={"Accept": "application/taxii+json;version=2.1", **headers}, timeout=30)


@pytest.mark.parametrize("who", ["nobody", "wrong token", "wrong basic", "az (no feed)", "tm (writer only)"])
def test_a_refused_caller_gets_the_answer_taxii_gives(served, who):
    world, _ = served
    headers = {"nobody": {}, "wrong token": {"Authorization": "Token not-a-token"},
               "wrong basic": {"Authorization": "Basic " + base64.b64encode(b"uz:wrong").decode()},
               "az (no feed)": world.auth("az"), "tm (writer only)": world.auth("tm")}[who]
    expected = taxii_manifest(world, "bilateral", headers)
    assert expected.status_code in (401, 403, 404)
    some_event = next(iter(get(world, "bilateral", "manifest.json", world.auth("uz")).json()))
    for leaf in ("manifest.json", "hashes.csv", f"{some_event}.json"):
        answer = get(world, "bilateral", leaf, headers)
        assert (answer.status_code, answer.json()) == (expected.status_code, expected.json()), leaf
        assert answer.headers.get("WWW-Authenticate") == expected.headers.get("WWW-Authenticate")


def test_red_and_amber_strict_events_never_appear_even_asked_by_uuid(served):
    world, levels = served
    hidden = [u for u, level in levels.items() if level in ("red", "amber+strict")]
    amber = next(u for u, level in levels.items() if level == "amber")
    for feed, peer in (("bilateral", "uz"), ("regional", "uz"), ("public", None)):
        headers = world.auth(peer) if peer else {}
        text = get(world, feed, "manifest.json", headers).text + get(world, feed, "hashes.csv", headers).text
        for event_uuid in hidden:
            assert event_uuid not in text
            assert get(world, feed, f"{event_uuid}.json", headers).status_code == 404
    assert get(world, "regional", f"{amber}.json", world.auth("uz")).status_code == 404  # above its ceiling
    assert get(world, "bilateral", "not-a-uuid.json", world.auth("uz")).status_code == 404


def test_a_new_incident_shows_up_in_the_next_manifest(served):
    world, levels = served
    before = get(world, "bilateral", "manifest.json", world.auth("uz")).json()
    result = world.node().add_incident(incident_record(title="Late one", tlp="green"))
    levels[result.report_id.split("--", 1)[1]] = "green"
    after = get(world, "bilateral", "manifest.json", world.auth("uz"))
    assert set(after.json()) - set(before) == {result.report_id.split("--", 1)[1]}
    node = world.node()
    manifest, hashes = fresh(node.store, node.config.feeds["bilateral"])  # built from scratch
    assert after.text == manifest
    assert get(world, "bilateral", "hashes.csv", world.auth("uz")).text == hashes


def test_a_lowered_ceiling_takes_the_events_above_it_out_of_the_served_index(tmp_path):
    world = build_world(tmp_path)
    node = world.node()
    amber = node.add_incident(incident_record(title="Amber", tlp="amber")).report_id.split("--", 1)[1]
    green = node.add_incident(incident_record(title="Green", tlp="green")).report_id.split("--", 1)[1]
    with running_node(world.home) as base:
        world.base = base
        assert set(get(world, "bilateral", "manifest.json", world.auth("uz")).json()) == {amber, green}
        edit_feed(world.home, "bilateral", max_tlp="green")
        deadline = time.monotonic() + 20
        while amber in get(world, "bilateral", "manifest.json", world.auth("uz")).json():
            assert time.monotonic() < deadline, "the lowered ceiling was not applied"
            time.sleep(0.2)
        assert set(get(world, "bilateral", "manifest.json", world.auth("uz")).json()) == {green}
        assert amber not in get(world, "bilateral", "hashes.csv", world.auth("uz")).text
        assert get(world, "bilateral", f"{amber}.json", world.auth("uz")).status_code == 404


def index_rows(world: World, feed: str) -> dict[str, str]:
    """The kept index of a feed, as the database holds it: event uuid → manifest record."""
    node = world.node()
    return {r["uuid"]: r["manifest"] for r in node.store.query(
        "SELECT uuid, manifest FROM misp_events WHERE feed = ?", [world.feeds[feed]])}


def logged(process, text: str) -> bool:
    """Whether the server logs `text` within 20 s (a refresh logs once it has committed)."""
    deadline = time.monotonic() + 20
    while text not in server_log(process):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_the_index_survives_a_restart_and_a_new_process_serves_it_without_rebuilding(tmp_path):
    world = build_world(tmp_path)
    node = world.node()
    uuids = {node.add_incident(incident_record(title=f"{level} one", tlp=level)).report_id.split("--", 1)[1]
             for level in ("clear", "green", "amber")}
    with serving(world.home) as (base, process):
        world.base = base
        first = get(world, "bilateral", "manifest.json", world.auth("uz")).text
        first_hashes = get(world, "bilateral", "hashes.csv", world.auth("uz")).text
        assert logged(process, "3 events recomputed")  # this start built the index
    assert set(index_rows(world, "bilateral")) == uuids  # kept in the database
    with serving(world.home) as (base, process):
        world.base = base
        assert get(world, "bilateral", "manifest.json", world.auth("uz")).text == first
        assert get(world, "bilateral", "hashes.csv", world.auth("uz")).text == first_hashes
        assert "events recomputed" not in server_log(process)  # served as kept: nothing rebuilt
    node = world.node()
    assert (first, first_hashes) == fresh(node.store, node.config.feeds["bilateral"])


def test_a_lowered_ceiling_takes_only_its_events_out_of_the_kept_index(tmp_path):
    world = build_world(tmp_path)
    node = world.node()
    amber = node.add_incident(incident_record(title="Amber", tlp="amber")).report_id.split("--", 1)[1]
    green = node.add_incident(incident_record(title="Green", tlp="green")).report_id.split("--", 1)[1]
    with serving(world.home) as (base, _):
        world.base = base
        assert set(get(world, "bilateral", "manifest.json", world.auth("uz")).json()) == {amber, green}
    green_record = index_rows(world, "bilateral")[green]
    edit_feed(world.home, "bilateral", max_tlp="green")
    with serving(world.home) as (base, process):
        world.base = base
        assert set(get(world, "bilateral", "manifest.json", world.auth("uz")).json()) == {green}
        assert logged(process, "1 events recomputed")  # the amber event only
    assert index_rows(world, "bilateral") == {green: green_record}
    edit_feed(world.home, "bilateral", max_tlp="amber")
    with serving(world.home) as (base, _):
        world.base = base
        assert set(get(world, "bilateral", "manifest.json", world.auth("uz")).json()) == {amber, green}


def partner_incident(world: World, title: str) -> tuple[str, list[dict]]:
    """An incident uz records and signs on its own node: (report id, the report and what it refers to)."""
    uz = world.partners["uz"]
    report_id = uz.add_incident(incident_record(title=title, tlp="green")).report_id
    report = json.loads(uz.store.object_json(report_id))
    objects = [json.loads(uz.store.object_json(ref)) for ref in report["object_refs"]]
    return report_id, [*objects, report]


def test_a_report_withdrawn_through_taxii_or_revoked_leaves_the_manifest_and_hashes(tmp_path):
    world = build_world(tmp_path)
    node = world.node()
    stays = node.add_incident(incident_record(title="Stays", tlp="green")).report_id
    revoked = node.add_incident(incident_record(title="Revoked", tlp="green")).report_id
    deleted, objects = partner_incident(world, "Deleted by its author")
    with running_node(world.home) as base:
        world.base = base
        world.collection("bilateral", "uz").add_objects({"objects": objects})
        before = get(world, "bilateral", "manifest.json", world.auth("uz")).json()
        assert {r.split("--", 1)[1] for r in (stays, revoked, deleted)} <= set(before)
        world.collection("bilateral", "uz").delete_object(deleted)
        withdraw(world.home, revoked)
        after = get(world, "bilateral", "manifest.json", world.auth("uz"))
        hashes = get(world, "bilateral", "hashes.csv", world.auth("uz")).text
        for gone in (deleted, revoked):
            event_uuid = gone.split("--", 1)[1]
            assert event_uuid not in after.json() and event_uuid not in hashes
            assert get(world, "bilateral", f"{event_uuid}.json", world.auth("uz")).status_code == 404
        assert stays.split("--", 1)[1] in after.json()
        node = world.node()
        assert (after.text, hashes) == fresh(node.store, node.config.feeds["bilateral"])


def test_a_partner_renaming_its_card_renames_its_events_and_only_those(tmp_path):
    world = build_world(tmp_path)
    own = world.node().add_incident(incident_record(title="Ours", tlp="green")).report_id.split("--", 1)[1]
    theirs, objects = partner_incident(world, "Theirs")
    uz = world.partners["uz"]
    card = uz.card()
    del card["extensions"][SIGNATURE_EXT]
    card.update(name="Uzbekistan node", modified=stix_now())
    with running_node(world.home) as base:
        world.base = base
        world.collection("bilateral", "uz").add_objects({"objects": objects})
        before = get(world, "bilateral", "manifest.json", world.auth("uz")).json()
        assert before[theirs.split("--", 1)[1]]["Orgc"]["name"] == "uz"
        world.collection("bilateral", "uz").add_objects({"objects": [sign(card, uz.signing_key)]})
        after = get(world, "bilateral", "manifest.json", world.auth("uz"))
        assert after.json()[theirs.split("--", 1)[1]]["Orgc"]["name"] == "Uzbekistan node"
        assert after.json()[own] == before[own]
        node = world.node()
        assert after.text == fresh(node.store, node.config.feeds["bilateral"])[0]
