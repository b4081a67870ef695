"""Analyst UI list and search response times at 100,000 incidents.

Fills a fresh node's incident index through the index's own write path (synthetic,
unsigned incident objects: signing 100,000 incidents would time the signer, not the
UI), then times each list/search query directly and as full HTTP requests through the
Flask app (log-in session, query, count, template). Prints medians and 95th percentiles.

    .venv/bin/python bench/ui.py [--incidents 100000] [--runs 25] [--keep DIR | --reuse DIR]
"""
from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.app import create_app  # noqa: E402
from node.home import Node, init_home  # noqa: E402
from node.sco import deterministic_id  # noqa: E402
from node.users import add_user  # noqa: E402
from node.incident_index import index_incident  # noqa: E402
from node.web.index import Filters, count_incidents, list_incidents, related_incidents  # noqa: E402
from node.wellknown import DISINFO_EXT  # noqa: E402

TARGET_MS = 100
SEED = 7
PLATFORMS = ["telegram", "tiktok", "youtube", "facebook", "instagram", "x", "vk", "ok", "website", "tv",
             "whatsapp", "threads"]
COUNTRIES = ["KZ", "UZ", "KG", "TJ", "TM", "AZ", "TR", "RU", "MN", "GE"]
VERDICTS = ["false", "misleading", "manipulated", "fabricated", "satire", "unverified"]
TLPS = ["clear", "green", "amber", "amber+strict", "red"]
TOPICS = ["border", "election", "vaccine", "water", "gas", "prices", "ministry", "army", "flood", "earthquake",
          "currency", "bank", "school", "hospital", "minister", "protest", "decree", "grain", "visa", "pension"]
NODES = [("kz", "KZ"), ("uz", "UZ"), ("kg", "KG"), ("az", "AZ"), ("tr", "TR")]
DAY_US = 86_400 * 1_000_000
START_US = 1_735_689_600 * 1_000_000  # 2025-01-01


def words(rng: random.Random, n: int = 3000) -> list[str]:
    syllables = ["ka", "za", "qa", "ly", "st", "an", "ov", "ra", "ti", "ne", "mu", "sh", "bo", "ge", "ul", "da"]
    return sorted({"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(n)})


def sentence(rng: random.Random, vocabulary: list[str], weights: list[float], length: int) -> str:
    picked = rng.choices(vocabulary, weights=weights, k=length)
    if rng.random() < 0.5:
        picked.insert(rng.randrange(len(picked) + 1), rng.choice(TOPICS))
    return " ".join(picked).capitalize() + "."


def synthetic_incident(rng, i, vocabulary, weights, techniques, node_ids) -> tuple[dict, dict, list[dict]]:
    incident_id = f"incident--{uuid.UUID(int=rng.getrandbits(128), version=4)}"
    first_us = START_US + rng.randrange(700) * DAY_US + rng.randrange(DAY_US)
    first_seen = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(first_us / 1_000_000))
    identity, node_name = rng.choice(node_ids)
    ext = {"extension_type": "property-extension", "verdict": rng.choice(VERDICTS), "languages": ["ru"],
           "first_seen": first_seen, "case_id": f"{node_name.upper()}-2025-{i:08d}",
           "platforms": rng.sample(PLATFORMS, rng.randint(1, 3)),
           "target_countries": rng.sample(COUNTRIES, rng.randint(1, 2)),
           "disarm_techniques": rng.sample(techniques, rng.randint(0, 3)),
           "claim": sentence(rng, vocabulary, weights, 8)}
    incident = {"type": "incident", "id": incident_id, "name": sentence(rng, vocabulary, weights, 6),
                "description": sentence(rng, vocabulary, weights, 30), "lang": "ru", "created": first_seen,
                "confidence": rng.randrange(101), "extensions": {DISINFO_EXT: ext}}
    stored = {"version": first_seen.replace(".000Z", ".000000Z"), "tlp": rng.choice(TLPS), "created_by": identity,
              "key_id": "sha256:" + "0" * 64, "origin": "own" if node_name == "kz" else "peer",
              "source": None if node_name == "kz" else node_name, "received": first_us + DAY_US}
    channel = rng.choice(vocabulary)
    neighbours = [{"type": "url", "value": f"https://t.me/{channel}/{i}"},
                  {"type": "domain-name", "value": "t.me"},
                  {"type": "user-account", "account_type": "telegram", "account_login": "@" + channel}]
    return incident, stored, neighbours


def fill(node: Node, count: int, seed: int = SEED, edit=None) -> float:
    """Index `count` synthetic incidents; `edit(incident)`, when given, may change each first."""
    rng = random.Random(seed)
    vocabulary = words(rng)
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]  # Zipf-like: a few words are everywhere
    techniques = list(node.disarm.techniques) or [f"T{n:04d}" for n in range(1, 120)]
    node_ids = []
    with node.store.transaction() as db:
        for name, country in NODES:
            identity = node.config.identity if name == "kz" else f"identity--{uuid.uuid4()}"
            node_ids.append((identity, name))
            if name != "kz":
                db.execute("INSERT INTO cards (identity, version, name, country, json) VALUES (?, ?, ?, ?, '{}')",
                           [identity, "2025-01-01T00:00:00.000000Z", name, country])
    started = time.perf_counter()
    for start in range(0, count, 5000):
        with node.store.transaction():
            for i in range(start, min(start + 5000, count)):
                _index(node, rng, i, vocabulary, weights, techniques, node_ids, edit)
    node.store.conn.execute("ANALYZE")
    return time.perf_counter() - started


def _index(node, rng, i, vocabulary, weights, techniques, node_ids, edit=None) -> None:
    incident, stored, neighbours = synthetic_incident(rng, i, vocabulary, weights, techniques, node_ids)
    if edit is not None:
        edit(incident)
    report_id = f"report--{uuid.UUID(int=rng.getrandbits(128), version=4)}"
    index_incident(node.store, incident, stored, report_id, neighbours)
    # What ingest records for a report: its refs, so related incidents can be looked up.
    node.store.add_report_refs(report_id, [incident["id"], *(deterministic_id(o) for o in neighbours)])


def timed(fn, runs: int) -> tuple[float, float, object]:
    fn()  # warm the page cache and statement cache once
    samples, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))], result


def scenarios(node: Node) -> list[tuple[str, dict]]:
    middle = node.store.one("SELECT MAX(n) / 2 AS n FROM web_incidents")["n"]
    uz = node.store.one("SELECT identity FROM cards WHERE name = 'uz'")["identity"]
    rare_word = words(random.Random(SEED))[-1]  # the vocabulary fill() used; its last word is its rarest
    return [
        ("newest page, no filter", {}),
        ("a page half-way down", {"before": middle}),
        ("platform", {"terms": {"platform": "tiktok"}}),
        ("DISARM technique", {"terms": {"technique": "T0023"}}),
        ("verdict + target country", {"terms": {"verdict": "satire", "country": "TM"}}),
        ("TLP + source node", {"terms": {"tlp": "red", "node": uz}}),
        ("first-seen date range (one month)", {"seen_from_us": START_US + 300 * DAY_US,
                                               "seen_until_us": START_US + 330 * DAY_US}),
        ("text: common topic word", {"text": "border"}),
        ("text: rare word", {"text": rare_word}),
        ("text: two words, prefix", {"text": "election minis"}),
        ("text: a URL", {"text": "t.me/" + rare_word}),
        ("text + platform + country", {"text": "vaccine", "terms": {"platform": "telegram", "country": "KZ"}}),
    ]


def http_client(home: Path):
    app = create_app(home)
    client = app.test_client()
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"csrf_token": token, "name": "bench",
                                       "password": "bench-password"}).status_code == 302
    return client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--keep", help="build the node in this folder and keep it")
    parser.add_argument("--reuse", help="time a node built earlier with --keep DIR (skips the fill)")
    args = parser.parse_args()
    if args.reuse:
        home = Path(args.reuse) / "kz"
        return measure(Node(home), home, args.runs)
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="qalqan-bench-ui-"))
    home = folder / "kz"
    init_home(home, "kz", "KZ", "http://127.0.0.1:8001")
    disarm = Path(__file__).resolve().parents[2] / "shared" / "data" / "disarm" / "DISARM.json"
    if disarm.exists():
        text = (home / "config.yaml").read_text("utf-8").replace("disarm: null", f"disarm: {disarm}")
        (home / "config.yaml").write_text(text, "utf-8")
    node = Node(home)
    add_user(node.store, "bench", "analyst", "bench-password")
    seconds = fill(node, args.incidents)
    print(f"indexed {args.incidents:,} incidents in {seconds:.1f} s ({args.incidents / seconds:,.0f}/s)")
    return measure(node, home, args.runs)


def measure(node: Node, home: Path, runs: int) -> int:
    total = node.store.one("SELECT COUNT(*) AS n FROM web_incidents")["n"]
    print(f"{total:,} incidents in the index; database {node.config.database_path.stat().st_size / 1e6:.0f} MB")
    print(f"\n{'query':38} {'matches':>8} {'list ms':>9} {'p95':>7} {'count ms':>9} {'HTTP ms':>9} {'p95':>7}")
    client = http_client(home)
    worst = 0.0
    for name, spec in scenarios(node):
        filters = Filters(**spec)
        list_ms, list_p95, _ = timed(lambda: list_incidents(node.store, filters), runs)
        count_ms, _, (matches, capped) = timed(lambda: count_incidents(node.store, filters), runs)
        query = _query_string(spec)
        http_ms, http_p95, response = timed(lambda: client.get("/incidents", query_string=query), runs)
        assert response.status_code == 200, response.status_code
        worst = max(worst, http_ms)
        shown = f"{matches:,}{'+' if capped else ''}"
        print(f"{name:38} {shown:>8} {list_ms:9.1f} {list_p95:7.1f} {count_ms:9.1f} {http_ms:9.1f} {http_p95:7.1f}")
    related_ms, related_p95, related = _time_related(node, runs)
    print(f"\nrelated incidents of one incident (shared account, t.me too common): median {related_ms:.1f} ms, "
          f"p95 {related_p95:.1f} ms, {related:.0f} related on average")
    verdict = "under" if worst < TARGET_MS else "OVER"
    print(f"\nslowest median HTTP response: {worst:.1f} ms ({verdict} the {TARGET_MS} ms target)")
    return 0 if worst < TARGET_MS else 1


def _time_related(node: Node, runs: int) -> tuple[float, float, float]:
    """Related-incident lookups for `runs` incidents picked at random (each once: no cache help)."""
    picks = [r["incident_id"] for r in node.store.query(
        "SELECT incident_id FROM web_incidents ORDER BY random() LIMIT ?", [runs])]
    samples, found = [], []
    for incident_id in picks:
        t0 = time.perf_counter()
        found.append(len(related_incidents(node.store, incident_id).incidents))
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))], \
        statistics.mean(found)


def _query_string(spec: dict) -> dict:
    names = {"platform": "platform", "technique": "technique", "verdict": "verdict", "country": "country",
             "tlp": "tlp", "node": "node"}
    query = {names[k]: v for k, v in spec.get("terms", {}).items()}
    if spec.get("text"):
        query["q"] = spec["text"]
    if spec.get("before"):
        query["before"] = str(spec["before"])
    for key, arg in (("seen_from_us", "from"), ("seen_until_us", "to")):
        if spec.get(key) is not None:
            day = spec[key] - (DAY_US if arg == "to" else 0)
            query[arg] = time.strftime("%Y-%m-%d", time.gmtime(day / 1_000_000))
    return query


if __name__ == "__main__":
    sys.exit(main())
