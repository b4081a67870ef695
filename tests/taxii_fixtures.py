"""A served node with partners, for the TAXII tests.

kz serves (in the test process, on the server `qalqan serve` uses). uz may read and write the bilateral and regional feeds; tm may read the
regional feed and write (but not read) the bilateral one; az holds a valid token but
is named in no feed; anyone may read the public feed.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest
import requests
from taxii2client.common import TokenAuth
from taxii2client.v21 import Collection, Server

from node.home import Node
from nodes import TAXII, edit_config, edit_feed, introduce, make_home, serving_in_process

MAX_BODY = 1_000_000


@dataclass
class World:
    home: Path
    base: str
    feeds: dict[str, str]
    tokens: dict[str, str]
    partners: dict[str, Node] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return self.base + "/taxii2/api/"

    def collection_url(self, feed: str) -> str:
        return f"{self.api}collections/{self.feeds[feed]}/"

    def objects_url(self, feed: str) -> str:
        return self.collection_url(feed) + "objects/"

    def auth(self, peer: str) -> dict:
        return {"Authorization": f"Token {self.tokens[peer]}"}

    def headers(self, peer: str | None = None, **extra) -> dict:
        return {"Accept": TAXII, **(self.auth(peer) if peer else {}), **extra}

    def server(self, peer: str) -> Server:
        return Server(self.base + "/taxii2/", auth=TokenAuth(self.tokens[peer]))

    def collection(self, feed: str, peer: str | None = None) -> Collection:
        auth = TokenAuth(self.tokens[peer]) if peer else None
        return Collection(self.collection_url(feed), auth=auth)

    def node(self) -> Node:
        return Node(self.home)


def build_world(base: Path) -> World:
    home = make_home(base, "kz", "KZ")
    edit_config(home, "server.max_content_length", MAX_BODY)
    partners = {name: Node(make_home(base, name, cc)) for name, cc in (("uz", "UZ"), ("tm", "TM"), ("az", "AZ"))}
    tokens = {name: introduce(home, partner.home) for name, partner in partners.items()}
    edit_feed(home, "bilateral", readers=["uz"], writers=["uz", "tm"])
    edit_feed(home, "regional", readers=["uz", "tm"], writers=["uz"])
    node = Node(home)
    feeds = {name: feed.id for name, feed in node.config.feeds.items()}
    return World(home, "", feeds, tokens, partners)


@contextmanager
def served_world(base: Path) -> Iterator[World]:
    world = build_world(base)
    with serving_in_process(world.home) as url:
        world.base = url
        yield world


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    with served_world(tmp_path_factory.mktemp("taxii")) as w:
        yield w


def store_fingerprint(home: Path) -> dict:
    """What a refused request must leave unchanged."""
    store = Node(home).store
    return {
        "objects": store.one("SELECT COUNT(*) AS n FROM objects")["n"],
        "feed_entries": store.one("SELECT COUNT(*) AS n FROM feed_entries WHERE deleted = 0")["n"],
        "quarantine": store.one("SELECT COUNT(*) AS n FROM quarantine")["n"],
        "statuses": store.one("SELECT COUNT(*) AS n FROM statuses")["n"],
    }


def post_envelope(world: World, feed: str, peer: str, objects: list[dict]) -> requests.Response:
    import json
    return requests.post(world.objects_url(feed), data=json.dumps({"objects": objects}),
                         headers=world.headers(peer, **{"Content-Type": TAXII}), timeout=60)
