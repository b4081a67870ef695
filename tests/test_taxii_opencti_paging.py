"""Paging as OpenCTI's TAXII 2 import connector does it, against a real served node.

The connector (OpenCTI-Platform/connectors, external-import/taxii2) keeps one dict of
filters for its life: each run sets `added_after` to its last run, and while a page says
`more` it drops `added_after` and sends `next`; the last `next` stays in the dict into
the next run. `OpenCtiLikePoller` does exactly that with taxii2-client, which the
connector uses too.
"""
from __future__ import annotations

import time

import pytest
import requests
from taxii2client.v21 import as_pages

from nodes import signed_notes
from node.timefmt import now_us, us_to_taxii
from taxii_fixtures import served_world


class OpenCtiLikePoller:
    def __init__(self, collection, limit: int):
        self.collection = collection
        self.filters: dict = {"limit": limit}
        self.pages: list[list[dict]] = []

    def run(self, added_after: str, endpoint: str = "get_objects") -> list[dict]:
        self.filters["added_after"] = added_after  # a stale `next` may still be in filters
        self.pages = []
        response = getattr(self.collection, endpoint)(**self.filters)
        while True:
            self.pages.append(response.get("objects", []))
            if response.get("more") is not True:
                break
            self.filters.pop("added_after", None)
            self.filters["next"] = response["next"]
            response = getattr(self.collection, endpoint)(**self.filters)
        return [o for page in self.pages for o in page]


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    """A served node whose regional feed got 30 notes from uz after `since`."""
    with served_world(tmp_path_factory.mktemp("opencti")) as world:
        since = us_to_taxii(now_us())
        time.sleep(0.01)
        notes = signed_notes(world.partners["uz"], 30)
        world.collection("regional", "uz").add_objects({"objects": notes})
        yield world, since, notes


def listed(world, since: str, endpoint: str = "get_objects") -> list[str]:
    collection = world.collection("regional", "uz")
    return [o["id"] for page in as_pages(getattr(collection, endpoint), per_request=100, added_after=since)
            for o in page.get("objects", [])]


@pytest.mark.parametrize("endpoint", ["get_objects", "get_manifest"])
def test_next_without_added_after_continues_the_listing_over_three_pages_each_object_once(fed, endpoint):
    world, since, notes = fed
    expected = listed(world, since, endpoint)
    assert {n["id"] for n in notes} <= set(expected)
    poller = OpenCtiLikePoller(world.collection("regional", "uz"), limit=-(-len(expected) // 3))
    got = [o["id"] for o in poller.run(since, endpoint)]
    assert len(poller.pages) == 3 and all(poller.pages)
    assert got == expected and len(set(got)) == len(got)


def test_next_with_the_original_added_after_continues_the_listing_too(fed):
    world, since, notes = fed
    expected = listed(world, since)
    params = {"limit": 11, "added_after": since}
    got = []
    while True:
        resp = requests.get(world.objects_url("regional"), params=params, headers=world.headers("uz"), timeout=30)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        got.extend(o["id"] for o in page.get("objects", []))
        if not page.get("more"):
            break
        params = {"limit": 11, "added_after": since, "next": page["next"]}
    assert got == expected


def test_the_next_run_with_a_stale_next_and_a_newer_added_after_gets_only_what_is_new_once(fed):
    world, since, _ = fed
    poller = OpenCtiLikePoller(world.collection("regional", "uz"), limit=11)
    poller.run(since)
    assert "next" in poller.filters  # the connector keeps the last token into its next run
    last_run = us_to_taxii(now_us())
    time.sleep(0.01)
    newer = signed_notes(world.partners["uz"], 5, content="newer")
    world.collection("regional", "uz").add_objects({"objects": newer})
    got = [o["id"] for o in poller.run(last_run)]
    assert sorted(got) == sorted(n["id"] for n in newer)


def test_a_token_still_refuses_other_match_filters_without_added_after(fed):
    world, since, _ = fed
    first = requests.get(world.objects_url("regional"), params={"limit": 5, "added_after": since},
                         headers=world.headers("uz"), timeout=30).json()
    resp = requests.get(world.objects_url("regional"),
                        params={"limit": 5, "next": first["next"], "match[type]": "note"},
                        headers=world.headers("uz"), timeout=30)
    assert resp.status_code == 400
    assert "next" in resp.json()["title"] + resp.json().get("description", "")
