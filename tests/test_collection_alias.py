"""Feed names that work across nodes: every collection carries its feed's name as
`alias`, and a partner configures `--pull`/`--push` by collection id, alias or title."""
from __future__ import annotations

import json

import pytest
from taxii2client.common import TokenAuth
from taxii2client.v21 import Server

from sync_fixtures import Member, held, publish_notes, run


@pytest.fixture
def pair(tmp_path):
    """KZ serving, UZ (not serving) as its partner: UZ reads KZ's bilateral and regional
    feeds, granted with `qalqan feed grant`; UZ's token at KZ made with `token create`."""
    kz, uz = Member(tmp_path, "kz", "KZ"), Member(tmp_path, "uz", "UZ")
    for feed in ("bilateral", "regional"):
        assert run("feed", "grant", feed, "uz", "--read", "--home", kz.home).returncode == 0
    (tmp_path / "kz.card").write_text(json.dumps(kz.card()))
    (tmp_path / "uz.card").write_text(json.dumps(uz.card()))
    assert run("trust", "add", "--card", tmp_path / "uz.card", "--home", kz.home).returncode == 0
    token = kz.node().create_token("uz")
    kz.start()
    yield kz, uz, token, tmp_path / "kz.card"
    kz.stop()


def test_taxii2_client_sees_each_collections_feed_name_as_its_alias(pair):
    kz, _, token, _ = pair
    server = Server(kz.discovery, auth=TokenAuth(token))
    collections = {c.alias: c for c in server.default.collections}
    assert set(collections) == {"bilateral", "regional", "public"}
    assert collections["bilateral"].id == kz.feed_id("bilateral") and collections["bilateral"].title == "Bilateral"
    assert collections["bilateral"].can_read and not collections["bilateral"].can_write


def test_a_partner_pulls_by_alias_and_by_title(pair):
    kz, uz, token, kz_card = pair
    added = run("peer", "add", "kz", "--card", kz_card, "--url", kz.discovery, "--token", token,
                "--pull", "bilateral", "--pull", "Regional (Organization of Turkic States)", "--home", uz.home)
    assert added.returncode == 0, added.stderr
    amber = publish_notes(kz.home, 2, tlp="amber")
    green = publish_notes(kz.home, 3, tlp="green")
    out = uz.sync()
    assert out.returncode == 0, out.stderr
    assert set(held(uz.home, amber + green).values()) == {1}
    cursors = {r["feed"] for r in uz.node().store.query("SELECT feed FROM cursors WHERE peer = 'kz'")}
    assert cursors == {kz.feed_id("bilateral"), kz.feed_id("regional")}  # kept by collection id


def test_a_name_the_partner_offers_no_collection_for_says_id_alias_or_title(pair):
    kz, uz, token, kz_card = pair
    run("peer", "add", "kz", "--card", kz_card, "--url", kz.discovery, "--token", token, "--pull", "public-ish",
        "--home", uz.home)
    out = uz.sync()
    assert out.returncode == 1
    assert "peer kz offers no collection 'public-ish' to this node (by id, alias or title)" in out.stderr


def test_a_partner_pushes_by_alias(pair):
    kz, uz, token, kz_card = pair
    assert run("feed", "grant", "bilateral", "uz", "--write", "--home", kz.home).returncode == 0
    assert run("feed", "grant", "bilateral", "kz", "--read", "--home", uz.home).returncode == 0  # what UZ pushes
    added = run("peer", "add", "kz", "--card", kz_card, "--url", kz.discovery, "--token", token,
                "--push", "bilateral", "--home", uz.home)
    assert added.returncode == 0, added.stderr
    notes = publish_notes(uz.home, 2, tlp="green")
    out = uz.sync()
    assert out.returncode == 0, out.stderr
    assert set(held(kz.home, notes).values()) == {1}
