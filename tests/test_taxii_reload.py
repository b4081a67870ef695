"""A serving node follows edits of feeds/*.yaml and config.yaml without a restart: a
reader removed loses access, a lowered ceiling hides objects, and an edit that does not
load leaves TAXII and the UI answering under the last good configuration, the error
shown in the log, `qalqan status`, /healthz and an admin banner until the file is fixed.

In process, with the app looking at the files on every request (CONFIG_MIN_INTERVAL 0)."""
from __future__ import annotations

import logging
import uuid

import pytest
import yaml

from conftest import run_qalqan
from node.app import create_app
from node.confwatch import STATE_FILE
from node.home import Node
from node.ingest import OWN, Door
from node.users import add_user
from nodes import TAXII, edit_feed, introduce, make_home, signed_notes
from taxii_fixtures import World
from web_fixtures import ADMIN, ANALYST, log_in


@pytest.fixture
def served(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    uz = Node(make_home(tmp_path, "uz", "UZ"))
    token = introduce(home, uz.home)
    edit_feed(home, "bilateral", readers=["uz"], writers=["uz"])
    node = Node(home)
    add_user(node.store, ADMIN[0], "admin", ADMIN[1])
    add_user(node.store, ANALYST[0], "analyst", ANALYST[1])
    published = {}
    for tlp in ("green", "amber"):
        notes = signed_notes(node, 2, tlp=tlp)
        assert node.ingest.run(notes, Door(OWN), batch=10).counts["accepted"] == 2
        published[tlp] = {n["id"] for n in notes}
    world = World(home, "", {f.name: f.id for f in node.config.feeds.values()}, {"uz": token})
    app = create_app(home, {"CONFIG_MIN_INTERVAL": 0})
    world.client = app.test_client()
    yield world, published


def get(world: World, url: str, peer: str | None = "uz"):
    return world.client.get(url, headers=world.headers(peer))


def notes_in(resp) -> set[str]:
    assert resp.status_code == 200, resp.text
    return {o["id"] for o in resp.get_json(force=True).get("objects", []) if o["id"].startswith("note--")}


def test_a_reader_removed_while_serving_is_refused_on_its_next_request(served):
    world, published = served
    assert notes_in(get(world, world.objects_url("bilateral"))) == published["green"] | published["amber"]

    edit_feed(world.home, "bilateral", readers=[])  # still a writer: it may know the collection exists
    resp = get(world, world.objects_url("bilateral"))
    assert resp.status_code == 403 and resp.headers["Content-Type"] == TAXII
    assert get(world, world.collection_url("bilateral") + "manifest/").status_code == 403
    listed = {c["id"]: c for c in get(world, world.api + "collections/").get_json(force=True)["collections"]}
    assert listed[world.feeds["bilateral"]]["can_read"] is False

    edit_feed(world.home, "bilateral", writers=[])
    assert get(world, world.objects_url("bilateral")).status_code == 404
    assert get(world, world.collection_url("bilateral")).status_code == 404
    listed = get(world, world.api + "collections/").get_json(force=True).get("collections", [])
    assert world.feeds["bilateral"] not in {c["id"] for c in listed}


def test_a_ceiling_lowered_while_serving_hides_amber_objects(served):
    world, published = served
    assert notes_in(get(world, world.objects_url("bilateral"))) == published["green"] | published["amber"]

    edit_feed(world.home, "bilateral", max_tlp="green")
    assert notes_in(get(world, world.objects_url("bilateral"))) == published["green"]
    assert notes_in(get(world, world.collection_url("bilateral") + "manifest/")) == published["green"]
    for oid in published["amber"]:
        assert get(world, world.objects_url("bilateral") + oid + "/").status_code == 404
        assert get(world, world.objects_url("bilateral") + oid + "/versions/").status_code == 404
    for oid in published["green"]:
        assert get(world, world.objects_url("bilateral") + oid + "/").status_code == 200


def test_a_feed_file_added_while_serving_becomes_a_collection(served):
    world, _ = served
    feed_id = str(uuid.uuid4())
    (world.home / "feeds" / "extra.yaml").write_text(yaml.safe_dump(
        {"id": feed_id, "title": "Extra", "max_tlp": "green", "readers": ["uz"], "writers": []}), "utf-8")
    listed = {c["id"] for c in get(world, world.api + "collections/").get_json(force=True)["collections"]}
    assert feed_id in listed
    # Like any feed, it carries the well-known objects and the node's card.
    objects = get(world, world.api + f"collections/{feed_id}/objects/").get_json(force=True)["objects"]
    assert {"extension-definition", "identity"} <= {o["type"] for o in objects}


def _break(path) -> str:
    good = path.read_text("utf-8")
    path.write_text(good.replace("\n", "\nbroken: [\n", 1), "utf-8")  # not valid YAML
    return good


@pytest.mark.parametrize("broken", ["feeds/bilateral.yaml", "config.yaml"])
def test_an_edit_that_does_not_load_leaves_the_last_good_configuration_in_force(served, broken, caplog):
    world, published = served
    edit_feed(world.home, "bilateral", max_tlp="green")  # a good edit: the one that must stay in force
    assert notes_in(get(world, world.objects_url("bilateral"))) == published["green"]
    admin, analyst = world.client.application.test_client(), world.client.application.test_client()
    assert log_in(admin, *ADMIN).status_code == 302 and log_in(analyst, *ANALYST).status_code == 302

    path = world.home / broken
    with caplog.at_level(logging.ERROR, logger="qalqan"):
        good = _break(path)
        for _ in range(3):  # TAXII answers, under the last good rules (green only)
            assert notes_in(get(world, world.objects_url("bilateral"))) == published["green"]
            assert notes_in(get(world, world.collection_url("public") + "objects/", None)) == set()
        page = admin.get("/incidents")
        assert page.status_code == 200 and "Configuration not applied" in page.text and broken in page.text
        page = analyst.get("/incidents")
        assert page.status_code == 200 and "Configuration not applied" not in page.text
    errors = [r for r in caplog.records if "last good configuration stays in force" in r.getMessage()]
    assert len(errors) == 1 and broken in errors[0].getMessage()  # once per edit, not per request

    health = world.client.get("/healthz")
    assert health.status_code == 200 and health.json["status"] == "ok"
    assert broken in health.json["config"]["error"] and str(world.home) not in health.json["config"]["error"]
    status = run_qalqan("status", home=world.home)
    assert status.returncode == 2 and status.stderr.startswith(f"qalqan: {world.home / broken}")
    assert "the running node keeps its last good configuration" in status.stdout

    path.write_text(good, "utf-8")
    assert notes_in(get(world, world.objects_url("bilateral"))) == published["green"]
    assert "Configuration not applied" not in admin.get("/incidents").text
    assert world.client.get("/healthz").json["config"] == {"status": "ok"}
    assert not (world.home / STATE_FILE).exists()
    status = run_qalqan("status", home=world.home)
    assert status.returncode == 0 and "last good configuration" not in status.stdout


# -- the reload itself, in process -----------------------------------------------------

def test_reload_config_if_changed_reads_the_files_only_when_they_change(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    node = Node(home)
    assert node.reload_config_if_changed(min_interval=0) is True  # the first look sets the baseline
    before = node.config
    assert node.reload_config_if_changed(min_interval=0) is False and node.config is before

    edit_feed(home, "regional", max_tlp="clear", readers=["uz"])
    assert node.reload_config_if_changed(min_interval=60) is False  # looked less than a minute ago
    assert node.reload_config_if_changed(min_interval=0) is True
    assert node.config.feeds["regional"].max_tlp == "clear" and node.config.feeds["regional"].readers == ["uz"]
    # Ingest places new objects by the new rules too.
    assert {r.name: r.max_tlp for r in node.ingest.feed_rules()}["regional"] == "clear"
    green = signed_notes(node, 1, tlp="green")
    node.ingest.run(green, Door(OWN), batch=10)
    assert node.config.feeds["regional"].id not in node.store.feeds_of(green[0]["id"])

    (home / "feeds" / "regional.yaml").unlink()
    assert node.reload_config_if_changed(min_interval=0) is True
    assert "regional" not in node.config.feeds


def test_reload_keeps_the_last_good_config_while_the_files_do_not_load(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    node = Node(home)
    assert node.reload_config_if_changed(min_interval=0) is True and node.config_error is None
    good = node.config
    text = _break(home / "config.yaml")
    assert node.reload_config_if_changed(min_interval=0) is False
    assert node.config is good and "config.yaml" in node.config_error[0]
    assert "config.yaml" in yaml.safe_load((home / STATE_FILE).read_text("utf-8"))["error"]
    (home / "config.yaml").write_text(text, "utf-8")
    assert node.reload_config_if_changed(min_interval=0) is True
    assert node.config_error is None and not (home / STATE_FILE).exists()
