"""Propagation benchmark: how long until an incident recorded at KZ is readable region-wide.

Six real nodes (`qalqan serve` processes with their background sync) on 127.0.0.1:

- partners KZ–UZ, UZ–AZ, UZ–KG, AZ–TR, each pair sharing its regional feed (TLP:GREEN
  ceiling) both ways, pushing and pulling every `--interval` seconds (default 30, the
  shipped `sync.interval`). AZ and KG are two hops from KZ, TR three; AZ, KG and TR pin
  KZ's card, so they verify what UZ and AZ relay.
- HU, an observer and no partner: it pulls KZ's public feed (TLP:CLEAR, readable by
  anyone) without a token every `--observer-interval` seconds (default 2). KZ does not
  know HU, so nothing is pushed to it: its time is its pull interval's.

Each run adds, at KZ with `qalqan incident add`, a TLP:CLEAR incident (policy lets every
node read it, HU included) and a TLP:GREEN one (every partner, never HU), then times,
from the start of each command, until each node holds it (its database is polled,
read-only, every 20 ms). Before each incident it waits a random part of the longest
timer, so incidents do not fall in step with the pulls. The same is done twice in one invocation:
with relays pushed onward (the default) and with `sync.push_relayed: false` (relays
travel by pull only), so the difference shows side by side. Prints median and p95 per
node and for "every node allowed", the POSTs the nodes answered for the incidents
(duplicates among them), and fails if HU ever holds a green incident.

Run: .venv/bin/python bench/propagation.py [--runs 10] [--interval 30] [--observer-interval 2]
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import yaml  # noqa: E402

from sync_fixtures import REPO, Member, Network, qalqan_cmd, set_setting  # noqa: E402

PARTNERS = {"kz": "KZ", "uz": "UZ", "az": "AZ", "kg": "KG", "tr": "TR"}
LINKS = [("kz", "uz"), ("uz", "az"), ("uz", "kg"), ("az", "tr")]
HOPS = {"uz": 1, "az": 2, "kg": 2, "tr": 3, "hu": 1}
READERS = {"clear": ["uz", "az", "kg", "tr", "hu"], "green": ["uz", "az", "kg", "tr"]}
POLL = 0.02


def record(title: str, tlp: str) -> dict:
    return {"title": title, "summary": "A doctored video claims the border closes tomorrow.",
            "claim": "The border closes tomorrow.", "language": "ru", "first_seen": "2026-11-26T08:00:00Z",
            "platforms": ["telegram"], "target_countries": ["KZ", "UZ"],
            "urls": [f"https://t.me/example_channel/{random.randrange(10**6)}"], "verdict": "manipulated",
            "confidence": 80, "tlp": tlp}


@dataclass
class Times:
    """Per incident: when KZ stored it and when each node held it, in seconds from the
    start of its `qalqan incident add`."""
    incidents: list[tuple[str, str, float, dict[str, float]]] = field(default_factory=list)  # id, TLP, KZ, nodes

    def of(self, tlp: str, node: str | None, after_stored: bool) -> list[float]:
        """One node's times (None: until every node allowed held it), from the command's
        start or from when KZ stored the incident."""
        return [(max(held.values()) if node is None else held[node]) - (stored if after_stored else 0)
                for _, level, stored, held in self.incidents if level == tlp]

    def ids(self, tlp: str | None = None) -> list[str]:
        return [i for i, level, *_ in self.incidents if tlp in (None, level)]


class Region:
    def __init__(self, root: Path, interval: float, observer_interval: float, push_relayed: bool):
        self.net = Network(root, PARTNERS)
        for a, b in LINKS:
            self.net.link(a, b, ["regional"])
        for far in ("az", "kg", "tr"):
            self.net.pin(far, "kz")
        hu = self.net.members["hu"] = Member(root, "hu", "HU")
        kz = self.net["kz"]
        hu.node().add_peer("kz", kz.card(), kz.discovery, pull=[kz.feed_id("public")])  # no token: anonymous
        for name, member in self.net.members.items():
            set_setting(member.home, "sync.interval", observer_interval if name == "hu" else interval)
            set_setting(member.home, "sync.push_relayed", push_relayed)
        self.dbs: dict[str, sqlite3.Connection] = {}

    def start(self) -> None:
        self.net.start(sync=True)
        for name, member in self.net.members.items():
            self.dbs[name] = sqlite3.connect(f"file:{member.home / 'data' / 'qalqan.db'}?mode=ro", uri=True,
                                             timeout=30, isolation_level=None)
        time.sleep(3)  # first pulls and card pushes settle

    def stop(self) -> None:
        for db in self.dbs.values():
            db.close()
        self.net.stop()

    def holds(self, node: str, object_id: str) -> bool:
        try:
            return self.dbs[node].execute("SELECT 1 FROM objects WHERE id = ?", [object_id]).fetchone() is not None
        except sqlite3.OperationalError:  # busy for a moment
            return False

    def holds_title(self, node: str, title: str) -> bool:
        try:
            return self.dbs[node].execute("SELECT 1 FROM objects WHERE type = 'incident' AND instr(json, ?) > 0",
                                          [json.dumps(title)]).fetchone() is not None
        except sqlite3.OperationalError:  # busy for a moment
            return False

    def posts(self, node: str, ids: set[str]) -> list[tuple[str, bool]]:
        """(id, was it a duplicate) for each of these ids in each POST `node` answered."""
        return [(detail["id"], detail.get("message") == "already held: duplicate")
                for (text,) in self.dbs[node].execute("SELECT json FROM statuses")
                for detail in json.loads(text).get("successes", []) if detail["id"] in ids]


def one_incident(region: Region, root: Path, title: str, tlp: str, times: Times, deadline: float) -> None:
    """`incident add` at KZ; poll KZ and every node policy lets read it, while the command
    runs and after, until each holds the incident (found by its title, unique per run)."""
    path = root / f"{uuid.uuid4()}.yaml"
    path.write_text(yaml.safe_dump(record(title, tlp), allow_unicode=True), "utf-8")
    began = time.perf_counter()
    command = subprocess.Popen(qalqan_cmd("incident", "add", path, "--home", region.net["kz"].home), cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    to_go, held_at = ["kz", *READERS[tlp]], {}
    while to_go:
        if time.perf_counter() - began > deadline:
            raise SystemExit(f"{title}: not everywhere within {deadline:.0f} s; missing at {to_go}")
        for node in list(to_go):
            if region.holds_title(node, title):
                held_at[node] = time.perf_counter() - began
                to_go.remove(node)
        time.sleep(POLL)
    out, err = command.communicate(timeout=60)
    if command.returncode != 0:
        raise SystemExit(f"incident add failed: {err}")
    stored = held_at.pop("kz")
    times.incidents.append((out.split()[1], tlp, stored, held_at))


def measure(root: Path, runs: int, interval: float, observer_interval: float, push_relayed: bool) -> tuple:
    region = Region(root, interval, observer_interval, push_relayed)
    times = Times()
    rng = random.Random(12)
    region.start()
    try:
        for i in range(runs):
            for tlp in ("clear", "green"):
                # a random phase against the pulls (or, pushing, against the observer's pull): an
                # incident added right after the last one arrived would start just after a pull
                time.sleep(rng.uniform(0, observer_interval if push_relayed else interval))
                one_incident(region, root, f"Propagation run {i} ({tlp}) {uuid.uuid4()}", tlp, times,
                             deadline=3 * interval + 30)
        time.sleep(2)  # pushers walk past the last run's entries before the POSTs are counted
        green_at_hu = sum(region.holds("hu", i) for i in times.ids("green"))
        posts = {name: region.posts(name, set(times.ids())) for name in region.net.members}
    finally:
        region.stop()
    return times, green_at_hu, posts


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def cell(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} {p95(values):6.2f}"


def table(results: dict[str, tuple], after_stored: bool) -> list[float]:
    """Print median and p95 per node and for every node allowed; returns the latter, both TLPs, per mode."""
    modes = list(results)
    print(f"{'node':6} {'hops':>4} {'TLP':6}" + "".join(f"{m:>30}" for m in modes))
    for tlp in ("clear", "green"):
        for node in [*READERS[tlp], None]:
            label, hops = ("all", "") if node is None else (node.upper(), "obs" if node == "hu" else HOPS[node])
            row = "".join(f"{cell(results[m][0].of(tlp, node, after_stored)):>30}" for m in modes)
            print(f"{label:6} {hops:>4} {tlp:6}{row}" + ("   <- every node policy allows" if node is None else ""))
    overall = {m: results[m][0].of("clear", None, after_stored) + results[m][0].of("green", None, after_stored)
               for m in modes}
    print(f"{'all':6} {'':>4} {'both':6}" + "".join(f"{cell(overall[m]):>30}" for m in modes))
    return overall[modes[0]]


def report(results: dict[str, tuple], runs: int, interval: float, observer_interval: float) -> None:
    print(f"\nsix nodes on 127.0.0.1: partners {', '.join(f'{a.upper()}–{b.upper()}' for a, b in LINKS)} share "
          f"their regional feed (TLP:GREEN) and pull every {interval:g} s; HU, an observer, pulls KZ's public "
          f"feed without a token every {observer_interval:g} s. {runs} runs per mode, a TLP:CLEAR and a "
          f"TLP:GREEN incident each; seconds, median and p95.")
    stored = [s for times, *_ in results.values() for _, _, s, _ in times.incidents]
    print(f"\nFrom the start of `qalqan incident add` at KZ (which takes {statistics.median(stored):.2f} s, "
          f"median, to store the incident) until the node holds it:")
    from_start = table(results, after_stored=False)
    print("\nFrom when KZ stored the incident until the node holds it:")
    table(results, after_stored=True)
    print()
    for mode, (times, green_at_hu, posts) in results.items():
        answers = [dup for node in posts.values() for _, dup in node]
        pushed = {(node, i) for node, seen in posts.items() for i, dup in seen if not dup}
        arrivals = [(node, i) for i, tlp, *_ in times.incidents for node in READERS[tlp] if node != "hu"]
        print(f"{mode}: {sum(1 for a in arrivals if a in pushed)} of {len(arrivals)} partner arrivals by push; "
              f"{len(answers)} POSTs of the incidents answered, {sum(answers)} of them duplicates, "
              f"{len(posts['kz'])} back to KZ; green incidents at HU: {green_at_hu} of {len(times.ids('green'))} "
              f"(policy: none)")
    print(f"\nmedian until every node allowed holds it, relays pushed onward, from `incident add`: "
          f"{statistics.median(from_start):.2f} s (target < 5 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--interval", type=float, default=30, help="partners' sync.interval (pull), seconds")
    parser.add_argument("--observer-interval", type=float, default=2, help="HU's sync.interval, seconds")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="qalqan-propagation-") as tmp:
        for name, push_relayed in (("push onward (default)", True), ("pull only (push_relayed off)", False)):
            print(f"measuring: {name} ...", flush=True)
            results[name] = measure(Path(tmp) / ("push" if push_relayed else "pull"), args.runs, args.interval,
                                    args.observer_interval, push_relayed)
    report(results, args.runs, args.interval, args.observer_interval)
    if any(green_at_hu for _, green_at_hu, _ in results.values()):
        raise SystemExit("HU holds a green incident: policy broken")


if __name__ == "__main__":
    main()
