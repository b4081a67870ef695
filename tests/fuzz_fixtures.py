"""A node for the property-based (fuzzing) tests: partners with tokens, one incident at
each TLP level shared to every feed, and a partner's green incident it relays.

`FuzzWorld` knows, from how it was built (not from the code under test), which objects
each caller must never see: the objects created for the amber+strict and red incidents
never leave the node; anonymous callers and az (no feed) see nothing above clear; tm
(regional reader) nothing above green. Each incident's text carries a marker, so a leak
of its words is found as well as a leak of its ids.
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from conftest import incident_record
from node.home import Node
from node.policy import NEVER_SHARED, RELAYABLE, TLP_RANK, effective_ceiling, tlp_of
from taxii_fixtures import World, build_world

TLPS = ("clear", "green", "amber", "amber+strict", "red")
COUNTRIES = {"clear": "FR", "green": "DE", "amber": "IT", "amber+strict": "ES", "red": "PT"}
CALLERS = (None, "uz", "tm", "az")

# Fast and repeatable in CI. By hand, a longer hunt: QALQAN_FUZZ_EXAMPLES=2000, and
# QALQAN_FUZZ_RANDOM=1 for new examples on each run instead of the same ones.
FUZZ = settings(max_examples=int(os.environ.get("QALQAN_FUZZ_EXAMPLES", "60")), deadline=None,
                derandomize=not os.environ.get("QALQAN_FUZZ_RANDOM"), database=None,
                suppress_health_check=list(HealthCheck))  # slow or large examples are expected here


def marker(tlp: str) -> str:
    return f"ZZMARK{tlp.replace('+', 'PLUS').upper()}ZZ"


@dataclass
class FuzzWorld:
    world: World
    created: dict[str, set[str]]  # TLP (or "uz") → ids of the objects its incident created
    identities: dict[str, str] = field(default_factory=dict)
    next_tokens: list[str] = field(default_factory=list)  # real paging tokens, each issued to one caller
    status_owner: dict[str, str] = field(default_factory=dict)  # POST status id → the peer that posted
    posted_by: dict[str, set[str]] = field(default_factory=dict)  # object id → peers whose POST of it succeeded

    def record_post(self, caller: str | None, response) -> None:
        if caller and response.status_code == 202:
            for success in response.get_json().get("successes", []):
                self.posted_by.setdefault(success["id"], set()).add(caller)

    @property
    def home(self) -> Path:
        return self.world.home

    def node(self) -> Node:
        return Node(self.world.home)

    def forbidden(self, caller: str | None) -> set[str]:
        """Ids that must appear in no answer to `caller`."""
        hidden = set(self.created["amber+strict"] | self.created["red"])
        if caller in (None, "az"):
            hidden |= self.created["green"] | self.created["amber"] | self.created["uz"]
        elif caller == "tm":
            hidden |= self.created["amber"]
        return hidden

    def forbidden_words(self, caller: str | None) -> set[str]:
        levels = {"amber+strict", "red"}
        if caller in (None, "az"):
            levels |= {"green", "amber"}
        elif caller == "tm":
            levels |= {"amber"}
        return {marker(t) for t in levels}

    def headers(self, caller: str | None) -> dict:
        return self.world.auth(caller) if caller else {}


def build_fuzz_world(base: Path) -> FuzzWorld:
    world = build_world(base)
    node = Node(world.home)

    def ids() -> set[str]:
        return {r["id"] for r in node.store.query("SELECT DISTINCT id FROM objects")}

    created: dict[str, set[str]] = {}
    for i, tlp in enumerate(TLPS):
        before = ids()
        node.add_incident(incident_record(
            tlp=tlp, title=f"{marker(tlp)} title", summary=f"{marker(tlp)} summary", claim=f"{marker(tlp)} claim",
            target_countries=[COUNTRIES[tlp]], threat_actor=f"{marker(tlp)} actor",
            urls=[f"https://{marker(tlp).lower()}.example/{i}"], accounts=[{"platform": "telegram",
                                                                            "login": f"@{marker(tlp).lower()}"}],
            media_sha256=[f"{i:064x}"], share=["public", "regional", "bilateral"]))
        created[tlp] = ids() - before
    uz = world.partners["uz"]
    uz.add_incident(incident_record(tlp="green", title="uz green incident", target_countries=["UZ"],
                                    urls=["https://uz-partner.example/a"], threat_actor="uz actor",
                                    accounts=[{"platform": "telegram", "login": "@uzpartner"}],
                                    media_sha256=["f" * 64]))
    out = io.StringIO()
    uz.export(out)
    before = ids()
    node.import_stream(io.BytesIO(out.getvalue().encode("utf-8")), source="uz")
    created["uz"] = ids() - before
    return FuzzWorld(world, created, {name: p.config.identity for name, p in world.partners.items()})


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory) -> FuzzWorld:
    return build_fuzz_world(tmp_path_factory.mktemp("fuzz"))


def feed_policy_violations(home: Path, posted_by: dict[str, set[str]] | None = None) -> list[str]:
    """Every feed entry that breaks the sharing policy: amber+strict/red in any feed, an
    object above its feed's ceiling, or a peer's amber in a feed read by anyone but the
    one peer that sent it (`posted_by`: object id → the peers whose POST of it succeeded,
    as each may read back what it wrote). An object's level is the one its TLP markings
    say; an unmarked object (the well-known ones) is judged by the level its entry records."""
    node = Node(home)
    feeds = {f.id: f for f in node.config.feeds.values()}
    bad = []
    for row in node.store.query("SELECT e.feed, e.tlp, o.id, o.json, o.origin, o.source FROM feed_entries e"
                                " JOIN objects o ON o.id = e.id AND o.version = e.version WHERE e.deleted = 0"):
        obj = json.loads(row["json"])
        tlp = tlp_of(obj) if obj.get("object_marking_refs") else row["tlp"]
        feed = feeds.get(row["feed"])
        if feed is None or tlp in NEVER_SHARED or TLP_RANK[tlp] > TLP_RANK[effective_ceiling(feed.max_tlp)]:
            bad.append(f"{row['id']} ({tlp}) in feed {feed.name if feed else row['feed']}")
        elif row["origin"] == "peer" and tlp not in RELAYABLE and not (
                len(feed.readers) == 1 and feed.readers[0] in {row["source"], *(posted_by or {}).get(row["id"], ())}):
            bad.append(f"{row['id']} ({tlp}, from {row['source']}) in feed {feed.name}, read by {feed.readers}")
    return bad
