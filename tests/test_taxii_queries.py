"""The page reader and feed-entry removal behind the TAXII endpoints, on a real store."""
from __future__ import annotations

import uuid

import pytest

from node.home import Node
from node.ingest import OWN, Door
from node.sco import deterministic_id
from node.taxii import queries
from node.taxii.filters import Filters
from nodes import make_home, signed_notes


@pytest.fixture
def kz(tmp_path) -> Node:
    return Node(make_home(tmp_path, "kz", "KZ"))


def publish(node: Node, notes: list[dict]) -> None:
    summary = node.ingest.run(notes, Door(OWN), batch=len(notes) + 1)
    assert summary.counts["accepted"] == len(notes)


def read_all(node: Node, feed, filters: Filters) -> tuple[list[str], int]:
    """Every id over all pages, and how many pages it took."""
    ids, after, pages = [], None, 0
    while True:
        page = queries.read_page(node.store, feed, filters, after)
        pages += 1
        ids.extend(e["id"] for e in page.entries)
        if not page.more:
            return ids, pages
        after = page.position


def test_a_page_stops_at_its_scan_budget_and_the_next_one_goes_on(kz, monkeypatch):
    notes = signed_notes(kz, 60)
    publish(kz, notes)
    last = signed_notes(kz, 1, content="last")
    publish(kz, last)
    monkeypatch.setattr(queries, "SCAN_BUDGET", 25)
    feed = kz.config.feed("regional")
    first = queries.read_page(kz.store, feed, Filters(limit=5, types=frozenset({"indicator"})), None)
    assert first.entries == [] and first.more and first.position is not None
    ids, pages = read_all(kz, feed, Filters(limit=5, types=frozenset({"note"})))
    assert sorted(ids) == sorted(n["id"] for n in notes + last)
    assert len(ids) == len(set(ids)) and pages > 1


def test_pages_never_exceed_the_limit_and_repeat_nothing(kz):
    publish(kz, signed_notes(kz, 23))
    feed = kz.config.feed("regional")
    ids, pages = read_all(kz, feed, Filters(limit=4))
    assert len(ids) == len(set(ids))
    assert pages == -(-len(ids) // 4)  # the last full page already says more: false


def test_removing_the_latest_version_makes_the_previous_one_latest(kz):
    first = signed_notes(kz, 1, modified="2026-11-01T00:00:00.000Z")
    second = signed_notes(kz, 1, modified="2026-11-03T00:00:00.000Z", ids=[first[0]["id"]])
    publish(kz, first)
    publish(kz, second)
    feed, oid = kz.config.feed("regional"), first[0]["id"]
    entries = queries.visible_entries(kz.store, feed, oid)
    newest = [e for e in entries if e["latest"] == 1]
    queries.remove_entries(kz.store, feed, oid, newest)
    page = queries.read_page(kz.store, feed, Filters(ids=(oid,)), None, with_json=True)
    assert [e["version"] for e in page.entries] == ["2026-11-01T00:00:00.000000Z"]
    assert kz.store.object_json(oid) is not None


def test_the_creator_of_an_object_is_the_one_all_its_versions_name(kz):
    note = signed_notes(kz, 1)[0]
    publish(kz, [note])
    assert queries.creator_of(kz.store, note["id"]) == kz.config.identity
    assert queries.creator_of(kz.store, f"note--{uuid.uuid4()}") is None
    row = kz.store.one("SELECT * FROM objects WHERE id = ?", [note["id"]])
    forged = {**row, "version": "2026-12-01T00:00:00.000000Z", "created_by": f"identity--{uuid.uuid4()}"}
    with kz.store.transaction():
        kz.store.insert_object(forged)
    assert queries.creator_of(kz.store, note["id"]) is None  # versions disagree: nobody may claim it


def test_stamps_are_the_objects_own_timestamps_and_scos_keep_their_version(kz):
    note = signed_notes(kz, 1, modified="2026-11-02T03:04:05.6Z")[0]
    url = {"type": "url", "spec_version": "2.1", "value": "https://example.org/x"}
    url["id"] = deterministic_id(url)
    publish(kz, [note, url])
    entries = [{"id": r["id"], "version": r["version"]} for r in kz.store.query(
        "SELECT id, version FROM objects WHERE id IN (?, ?)", [note["id"], url["id"]])]
    queries.add_stamps(kz.store, entries)
    stamps = {e["id"]: (e["stamp"], e["version"]) for e in entries}
    assert stamps[note["id"]] == ("2026-11-02T03:04:05.6Z", "2026-11-02T03:04:05.600000Z")
    assert stamps[url["id"]][0] == stamps[url["id"]][1]
