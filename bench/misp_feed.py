"""The MISP feed (node/misp/feed.py) on a large feed: how long the first manifest.json
takes (built with paged reads), a cached one, hashes.csv and one event, through HTTP
from `qalqan serve`.

    .venv/bin/python bench/misp_feed.py --incidents 5000
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from node.home import Node, init_home  # noqa: E402
from nodes import running_node  # noqa: E402


def record(n: int) -> dict:
    return {"title": f"Incident {n}", "summary": "A video claims the border closes tomorrow.",
            "claim": f"Claim number {n}.", "language": "ru", "first_seen": "2026-11-20T08:00:00Z",
            "platforms": ["telegram"], "target_countries": ["KZ", "UZ"], "disarm": ["T0023"],
            "urls": [f"https://t.me/channel/{n}"], "accounts": [{"platform": "telegram", "login": f"@ch{n % 50}"}],
            "verdict": "false", "confidence": 80, "fact_check_url": f"https://factcheck.example.kz/{n}",
            "tlp": "clear"}


def timed(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    response = requests.get(url, timeout=600)
    response.raise_for_status()
    return time.perf_counter() - start, len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "kz"
        init_home(home, "kz", "KZ", "http://127.0.0.1:8001")
        node = Node(home)
        start = time.perf_counter()
        for n in range(args.incidents):
            node.add_incident(record(n))
        print(f"recorded {args.incidents} incidents in {time.perf_counter() - start:.1f} s")
        feed = node.config.feeds["public"]
        with running_node(home) as base:
            root = f"{base}/misp/{feed.id}/"
            first, size = timed(root + "manifest.json")
            print(f"manifest.json, first (built): {first * 1000:.0f} ms, {size / 1e6:.1f} MB")
            again, _ = timed(root + "manifest.json")
            print(f"manifest.json, cached:        {again * 1000:.1f} ms")
            hashes, size = timed(root + "hashes.csv")
            print(f"hashes.csv, cached:           {hashes * 1000:.1f} ms, {size / 1e6:.1f} MB")
            node.add_incident(record(args.incidents))
            grown, _ = timed(root + "manifest.json")
            print(f"manifest.json, one incident later (updated): {grown * 1000:.0f} ms")
            event_uuid = requests.get(root + "manifest.json", timeout=600).json().popitem()[0]
            one = min(timed(root + f"{event_uuid}.json")[0] for _ in range(20))
            print(f"one event:                    {one * 1000:.1f} ms")


if __name__ == "__main__":
    main()
