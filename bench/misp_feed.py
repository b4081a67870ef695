"""The MISP feed (node/misp/) on a large feed, through HTTP from `qalqan serve`: the
first manifest.json after a restart (the index is kept in the database), a second one,
one after a new incident, hashes.csv and one event.

Fills a fresh node's public feed through the store's own write path (objects, feed
entries, report refs, the UI's incident index) with synthetic, unsigned incidents: signing 100,000 incidents
would time the signer, not the feed. The index is then built once, as the first
refresh after the upgrade that adds it would (timed too), and the node is started.

    .venv/bin/python bench/misp_feed.py [--incidents 100000]
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from node.home import Node, init_home  # noqa: E402
from node.incident_index import index_incident  # noqa: E402
from node.misp.index import refresh  # noqa: E402
from node.sco import deterministic_id  # noqa: E402
from node.signing import canonical  # noqa: E402
from node.store import OWN  # noqa: E402
from node.wellknown import DISINFO_EXT, TLP_MARKINGS  # noqa: E402
from nodes import running_node  # noqa: E402

BATCH = 5000
STAMP = "2026-11-20T08:00:00.000Z"
STAMP_US = "2026-11-20T08:00:00.000000Z"  # the stored version of a dated object, and of an SCO


def record(n: int) -> dict:
    """An incident as the analyst form takes it (for the one recorded for real)."""
    return {"title": f"Incident {n}", "summary": "A video claims the border closes tomorrow.",
            "claim": f"Claim number {n}.", "language": "ru", "first_seen": "2026-11-20T08:00:00Z",
            "platforms": ["telegram"], "target_countries": ["KZ", "UZ"], "disarm": ["T0023"],
            "urls": [f"https://t.me/channel/{n}"], "accounts": [{"platform": "telegram", "login": f"@ch{n % 50}"}],
            "verdict": "false", "confidence": 80, "fact_check_url": f"https://factcheck.example.kz/{n}",
            "tlp": "clear"}


def synthetic(n: int, identity: str) -> list[dict]:
    """The STIX objects of incident n: its observables, the incident, the report."""
    marks = {"object_marking_refs": [TLP_MARKINGS["clear"]]}
    observables = [{"type": "url", "spec_version": "2.1", "value": f"https://t.me/channel/{n}", **marks},
                   {"type": "domain-name", "spec_version": "2.1", "value": "t.me", **marks},
                   {"type": "user-account", "spec_version": "2.1", "account_type": "telegram",
                    "account_login": f"@ch{n % 50}", **marks}]
    for obj in observables:
        obj["id"] = deterministic_id(obj)
    dated = {"spec_version": "2.1", "created": STAMP, "modified": STAMP, "created_by_ref": identity, **marks}
    incident = {"type": "incident", "id": f"incident--{uuid.uuid4()}", "name": f"Incident {n}",
                "description": "A video claims the border closes tomorrow.", "confidence": 80,
                "external_references": [{"source_name": "fact-check", "url": f"https://factcheck.example.kz/{n}"}],
                "extensions": {DISINFO_EXT: {"extension_type": "property-extension", "verdict": "false",
                                             "claim": f"Claim number {n}.", "first_seen": "2026-11-20T08:00:00Z",
                                             "platforms": ["telegram"], "target_countries": ["KZ", "UZ"],
                                             "disarm_techniques": ["T0023"], "languages": ["ru"]}}, **dated}
    report = {"type": "report", "id": f"report--{uuid.uuid4()}", "name": f"Incident {n}", "published": STAMP,
              "object_refs": [incident["id"], *(o["id"] for o in observables)], **dated}
    return [*observables, incident, report]


def _stored(obj: dict) -> dict:
    """The objects row ingest would write (canonical bytes: a repeated observable is a duplicate)."""
    data = canonical(obj)
    return {"id": obj["id"], "version": STAMP_US, "type": obj["type"], "created_by": obj.get("created_by_ref"),
            "tlp": "clear", "origin": OWN, "source": None, "key_id": None, "received": time.time_ns() // 1000,
            "digest": hashlib.sha256(data).hexdigest(), "json": data.decode("utf-8")}


def fill(node: Node, count: int) -> float:
    """`count` incidents in the public feed; returns the seconds it took."""
    store, feed = node.store, node.config.feeds["public"]
    seen: set[str] = set()
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        with store.transaction():
            for n in range(start, min(start + BATCH, count)):
                objects = synthetic(n, node.config.identity)
                for obj in objects:
                    row = _stored(obj)
                    if obj["id"] not in seen:
                        seen.add(obj["id"])
                        store.insert_object(row, held=[])
                        store.add_to_feed(feed.id, row, new_object=True)
                    if obj["type"] == "report":
                        store.add_report_refs(obj["id"], obj["object_refs"])
                    elif obj["type"] == "incident":  # the UI's index, or `serve` would backfill it
                        index_incident(store, obj, row, objects[-1]["id"], objects[:3])
    store.conn.execute("ANALYZE")
    return time.perf_counter() - started


def timed(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    response = requests.get(url, timeout=600)
    response.raise_for_status()
    return time.perf_counter() - start, len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "kz"
        init_home(home, "kz", "KZ", "http://127.0.0.1:8001")
        node = Node(home)
        print(f"filled {args.incidents} incidents in {fill(node, args.incidents):.1f} s")
        feed = node.config.feeds["public"]
        start = time.perf_counter()
        built = refresh(node.store, feed)
        print(f"index built once (the first refresh after the upgrade, in the background): {built} events in "
              f"{time.perf_counter() - start:.1f} s")
        node.store.close()
        with running_node(home) as base:
            root = f"{base}/misp/{feed.id}/"
            first, size = timed(root + "manifest.json")
            print(f"manifest.json, first after a restart: {first * 1000:.0f} ms, {size / 1e6:.1f} MB")
            again = min(timed(root + "manifest.json")[0] for _ in range(3))
            print(f"manifest.json, again:                 {again * 1000:.0f} ms")
            Node(home).add_incident(record(args.incidents))
            grown, _ = timed(root + "manifest.json")
            print(f"manifest.json, one incident later:    {grown * 1000:.0f} ms")
            hashes, size = timed(root + "hashes.csv")
            print(f"hashes.csv:                           {hashes * 1000:.0f} ms, {size / 1e6:.1f} MB")
            event_uuid = next(iter(requests.get(root + "manifest.json", timeout=600).json()))
            one = min(timed(root + f"{event_uuid}.json")[0] for _ in range(20))
            print(f"one event:                            {one * 1000:.1f} ms")


if __name__ == "__main__":
    main()
