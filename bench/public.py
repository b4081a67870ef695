"""Public pages, search and Atom feed response times at 100,000 incidents.

Fills a fresh node's incident index as bench/ui.py does (synthetic incidents at every
TLP; about one in six is a public debunk), records a few real signed TLP:CLEAR
debunks through the node's own path (their pages verify a signature), turns
`public.enabled` on, and times each public answer through the Flask app, with no
log-in. Prints medians and 95th percentiles; exits 1 when a median is over 20 ms.

    .venv/bin/python bench/public.py [--incidents 100000] [--runs 25] [--keep DIR | --reuse DIR]
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ui import SEED, fill, timed, words  # noqa: E402  (bench/ui.py: the same synthetic index)

from node.app import create_app  # noqa: E402
from node.home import Node, init_home  # noqa: E402
from node.incident_index import PUBLIC_TERM  # noqa: E402
from node.strictyaml import dump, load  # noqa: E402

TARGET_MS = 20
REAL_DEBUNKS = 20


def record(i: int) -> dict:
    return {"title": f"Signed public debunk {i}", "summary": "A forged decree about the border.",
            "claim": f"The border closes on day {i}.", "language": "ru", "first_seen": "2026-11-20T08:00:00Z",
            "platforms": ["telegram"], "target_countries": ["KZ"], "urls": [f"https://t.me/hoax/{i}"],
            "verdict": "fabricated", "fact_check_url": "https://factcheck.example.kz/border", "tlp": "clear"}


def build(folder: Path, incidents: int) -> Path:
    home = folder / "kz"
    init_home(home, "kz", "KZ", "http://127.0.0.1:8001")
    config = home / "config.yaml"
    data = load(config.read_text("utf-8"))
    data["public"] = {"enabled": True}
    config.write_text(dump(data), "utf-8")
    node = Node(home)
    seconds = fill(node, incidents)
    print(f"indexed {incidents:,} synthetic incidents in {seconds:.1f} s")
    for i in range(REAL_DEBUNKS):
        node.add_incident(record(i))
    node.store.conn.execute("ANALYZE")
    return home


def scenarios(node: Node) -> list[tuple[str, str]]:
    middle = node.store.one("SELECT MAX(n) / 2 AS n FROM web_incidents")["n"]
    real = node.store.one("SELECT incident_id FROM web_incidents WHERE title = 'Signed public debunk 7'")
    rare_word = words(random.Random(SEED))[-1]
    return [
        ("index, newest page", "/public/"),
        ("index, a page half-way down", f"/public/?before={middle}"),
        ("index, one language", "/public/?lang=ru"),
        ("index, a language with none", "/public/?lang=kk"),
        ("search: common topic word", "/public/?q=border"),
        ("search: rare word", f"/public/?q={rare_word}"),
        ("search: two words, prefix", "/public/?q=election+minis"),
        ("Atom feed", "/public/feed.atom"),
        ("Atom feed, one language", "/public/feed.atom?lang=ru"),
        ("debunk page (signature verified)", f"/public/incidents/{real['incident_id']}"),
    ]


def measure(home: Path, runs: int) -> int:
    node = Node(home)
    total = node.store.one("SELECT COUNT(*) AS n FROM web_incidents")["n"]
    public = node.store.one("SELECT COUNT(*) AS n FROM web_incident_terms WHERE kind = ? AND value = ?",
                            list(PUBLIC_TERM))["n"]
    print(f"{total:,} incidents in the index, {public:,} of them public debunks")
    client = create_app(home).test_client()
    print(f"\n{'answer':36} {'bytes':>8} {'HTTP ms':>9} {'p95':>7} {'304 ms':>8}")
    worst = 0.0
    for name, path in scenarios(node):
        ms, p95, response = timed(lambda: client.get(path), runs)
        assert response.status_code == 200, (path, response.status_code)
        etag = response.headers["ETag"]
        revalidate_ms, _, again = timed(lambda: client.get(path, headers={"If-None-Match": etag}), runs)
        assert again.status_code == 304, (path, again.status_code)
        worst = max(worst, ms)
        print(f"{name:36} {len(response.data):8,} {ms:9.1f} {p95:7.1f} {revalidate_ms:8.1f}")
    verdict = "under" if worst < TARGET_MS else "OVER"
    print(f"\nslowest median public answer: {worst:.1f} ms ({verdict} the {TARGET_MS} ms target)")
    return 0 if worst < TARGET_MS else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--keep", help="build the node in this folder and keep it")
    parser.add_argument("--reuse", help="time a node built earlier with --keep DIR (skips the fill)")
    args = parser.parse_args()
    if args.reuse:
        return measure(Path(args.reuse) / "kz", args.runs)
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="qalqan-bench-public-"))
    return measure(build(folder, args.incidents), args.runs)


if __name__ == "__main__":
    sys.exit(main())
