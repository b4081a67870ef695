"""Sync benchmark: two real nodes (`qalqan serve` processes) on loopback.

1. Pull throughput: KZ holds N signed objects in its regional feed; UZ runs
   `qalqan sync --once --peer kz`; objects/s end to end (process start to exit,
   every object verified, stored and relayed by UZ's ingest).
2. Push latency: KZ serves with its background sync on; `qalqan incident add` at KZ,
   then poll UZ's TAXII API until the incident can be read there. Median of several runs.

Run: .venv/bin/python bench/sync.py [--objects 20000] [--runs 9]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from sync_fixtures import TAXII, Network, publish_notes  # noqa: E402


def incident_record(title: str) -> dict:
    return {"title": title, "summary": "A forged ministry statement spreads on Telegram.", "language": "ru",
            "first_seen": "2026-11-20T08:00:00Z", "platforms": ["telegram"], "target_countries": ["KZ", "UZ"],
            "urls": [f"https://t.me/fakechannel/{abs(hash(title)) % 10000}"], "verdict": "fabricated",
            "tlp": "green"}


def bench_pull(root: Path, objects: int) -> float:
    net = Network(root, {"kz": "KZ", "uz": "UZ"})
    net.link("kz", "uz", ["regional"])
    for start in range(0, objects, 5000):
        publish_notes(net["kz"].home, min(5000, objects - start))
    net["kz"].start()
    try:
        began = time.perf_counter()
        out = net["uz"].sync("--peer", "kz")
        elapsed = time.perf_counter() - began
    finally:
        net.stop()
    if out.returncode != 0:
        raise SystemExit(f"sync failed: {out.stderr}")
    print(out.stdout.strip())
    rate = objects / elapsed
    print(f"pull: {objects} objects in {elapsed:.2f} s = {rate:,.0f} objects/s end to end")
    return rate


def bench_push_latency(root: Path, runs: int) -> tuple[list[float], list[float]]:
    net = Network(root, {"kz": "KZ", "uz": "UZ"})
    net.link("kz", "uz", ["bilateral", "regional"])
    # KZ's own token at UZ (made by link) must keep working for its pushes: this reader's
    # token is an extra one for the same peer.
    token = net["uz"].node().create_token("kz", keep_old=True)
    regional = net["uz"].feed_id("regional")
    net["uz"].start()            # receives pushes; never pulls
    net["kz"].start(sync=True)   # its background loop pushes
    after_stored, after_command = [], []
    try:
        for i in range(runs):
            began = time.perf_counter()
            _, incident = net["kz"].add_incident(root, **incident_record(f"Latency run {i}"))
            stored = time.perf_counter()
            url = f"{net['uz'].discovery}api/collections/{regional}/objects/{incident}/"
            deadline = stored + 60
            while requests.get(url, headers={"Accept": TAXII, "Authorization": f"Token {token}"},
                               timeout=5).status_code != 200:
                if time.perf_counter() > deadline:
                    raise SystemExit(f"run {i}: the incident did not reach UZ within 60 s")
                time.sleep(0.01)
            readable = time.perf_counter()
            after_stored.append(readable - stored)
            after_command.append(readable - began)
    finally:
        net.stop()
    print(f"push latency, incident stored at KZ → readable at UZ over TAXII ({runs} runs): "
          f"median {statistics.median(after_stored):.2f} s, max {max(after_stored):.2f} s")
    print(f"including the `qalqan incident add` process itself: median {statistics.median(after_command):.2f} s")
    return after_stored, after_command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs; load average before the run: {load}")
    with tempfile.TemporaryDirectory(prefix="qalqan-bench-") as tmp:
        bench_pull(Path(tmp) / "pull", args.objects)
        bench_push_latency(Path(tmp) / "push", args.runs)


if __name__ == "__main__":
    main()
