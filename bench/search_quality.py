"""Search quality in the region's languages: recall and precision of the incident list's
full-text search on the query/document pairs of bench/search_pairs.yaml, and its speed.

Every document becomes an incident of a fresh node through the library (`Node.add_incident`:
built, signed, stored, indexed by the ingest hook); every query runs through the code
the incident list runs (`list_incidents` with the list's filters). A pair is found when
its document is among the query's results. Recall: the `match` pairs found; precision:
of the pairs found, those that are `match` pairs (a `miss` pair found is a false match).

With --incidents N the node first holds N synthetic incidents (bench/ui.py's fill), and
the pairs' queries are also timed as the list runs them (one page and the count) and as
HTTP requests to /incidents.

    .venv/bin/python bench/search_quality.py [--incidents 100000] [--show-failures]
    .venv/bin/python bench/search_quality.py --reuse DIR   # a copy of bench/ui.py --keep DIR's node
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from node.home import Node, init_home  # noqa: E402
from node.users import add_user  # noqa: E402
from node.web.index import Filters, count_incidents, list_incidents  # noqa: E402
from ui import fill, http_client, timed  # noqa: E402  (bench/ui.py)

PAIRS = Path(__file__).resolve().parent / "search_pairs.yaml"
TARGET = 0.9
TARGET_MS = 100


def is_cyrillic(text: str) -> bool:
    return any("\u0400" <= c <= "\u04ff" for c in text)


def load_cases(path: Path = PAIRS) -> list[dict]:
    cases = yaml.safe_load(path.read_text("utf-8"))
    for case in cases:
        case["match"] = [str(q) for q in case["match"]]
        case["miss"] = [str(q) for q in case.get("miss", [])]
    return cases


def add_documents(node: Node, cases: list[dict]) -> None:
    for i, case in enumerate(cases):
        result = node.add_incident({
            "title": case["doc"], "summary": case["doc"], "claim": case["doc"], "language": case["lang"],
            "first_seen": f"2026-11-{1 + i % 28:02d}T08:00:00Z", "verdict": "false", "tlp": "green"})
        case["incident_id"] = result.incident_id


def found(node: Node, query: str) -> set[str]:
    return {row["incident_id"] for row in list_incidents(node.store, Filters(text=query, limit=1_000_000))}


def kind(case: dict, query: str) -> str:
    """The kind of a match pair: the other script, or a form/beginning in the same one."""
    return "other script" if is_cyrillic(case["doc"]) != is_cyrillic(query) else "same script"


def measure_quality(node: Node, cases: list[dict], show_failures: bool) -> tuple[float, float]:
    tally: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # group → tp, fn, fp, tn
    failures = []
    for case in cases:
        for query in case["match"]:
            hit = case["incident_id"] in found(node, query)
            for group in ("all", case["lang"], kind(case, query), *(["written later"] if case.get("later") else [])):
                tally[group]["tp" if hit else "fn"] += 1
            if not hit:
                failures.append(f"missed  [{case['lang']}] {query!r} → {case['doc']!r}")
        for query in case["miss"]:
            hit = case["incident_id"] in found(node, query)
            for group in ("all", case["lang"], "unrelated", *(["written later"] if case.get("later") else [])):
                tally[group]["fp" if hit else "tn"] += 1
            if hit:
                failures.append(f"false   [{case['lang']}] {query!r} → {case['doc']!r}")
    print(f"{'pairs':14} {'match':>6} {'found':>6} {'miss':>6} {'found':>6} {'recall':>7} {'precision':>9}")
    for group in ("all", "ru", "tr", "kk", "uz", "az", "ky", "en", "same script", "other script", "unrelated",
                  "written later"):
        t = tally[group]
        recall = t["tp"] / (t["tp"] + t["fn"]) if t["tp"] + t["fn"] else float("nan")
        precision = t["tp"] / (t["tp"] + t["fp"]) if t["tp"] + t["fp"] else float("nan")
        print(f"{group:14} {t['tp'] + t['fn']:>6} {t['tp']:>6} {t['fp'] + t['tn']:>6} {t['fp']:>6}"
              f" {recall:>7.3f} {precision:>9.3f}")
    if show_failures:
        print("\n" + "\n".join(failures or ["no failures"]))
    t = tally["all"]
    return t["tp"] / (t["tp"] + t["fn"]), t["tp"] / (t["tp"] + t["fp"])


def measure_speed(node: Node, home: Path, cases: list[dict], runs: int) -> float:
    """Median list (page + count) and HTTP times of every query; returns the slowest HTTP median."""
    client = http_client(home)
    rows = []
    for query in sorted({q for case in cases for q in case["match"] + case["miss"]}):
        filters = Filters(text=query)
        list_ms, _, _ = timed(lambda: (list_incidents(node.store, filters), count_incidents(node.store, filters)),
                              runs)
        http_ms, _, response = timed(lambda: client.get("/incidents", query_string={"q": query}), runs)
        assert response.status_code == 200, response.status_code
        rows.append((http_ms, list_ms, query))
    rows.sort()
    lists = sorted(r[1] for r in rows)
    https = [r[0] for r in rows]
    print(f"\n{len(rows)} queries, each run {runs} times: list page + count median of medians "
          f"{lists[len(lists) // 2]:.1f} ms, slowest {lists[-1]:.1f} ms; HTTP /incidents median "
          f"{https[len(https) // 2]:.1f} ms, slowest {https[-1]:.1f} ms")
    print("slowest queries (HTTP ms, list ms): " + ", ".join(f"{q!r} {h:.1f}/{li:.1f}" for h, li, q in rows[-5:]))
    return https[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=0, help="synthetic incidents to hold besides the pairs")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query (with --incidents)")
    parser.add_argument("--reuse", help="time on a copy of the node bench/ui.py --keep DIR built (skips the fill)")
    parser.add_argument("--show-failures", action="store_true")
    args = parser.parse_args()
    cases = load_cases()
    pairs = sum(len(c["match"]) + len(c["miss"]) for c in cases)
    with tempfile.TemporaryDirectory(prefix="qalqan-bench-search-") as folder:
        home = Path(folder) / "kz"
        if args.reuse:
            shutil.copytree(Path(args.reuse) / "kz", home)
        else:
            init_home(home, "kz", "KZ", "http://127.0.0.1:8001")
        node = Node(home)
        if args.incidents and not args.reuse:
            seconds = fill(node, args.incidents)
            print(f"indexed {args.incidents:,} synthetic incidents in {seconds:.1f} s "
                  f"({args.incidents / seconds:,.0f}/s)")
        started = time.perf_counter()
        add_documents(node, cases)
        print(f"{len(cases)} documents added through Node.add_incident in {time.perf_counter() - started:.1f} s; "
              f"{pairs} query/document pairs\n")
        recall, precision = measure_quality(node, cases, args.show_failures)
        ok = recall >= TARGET and precision >= TARGET
        print(f"\nrecall {recall:.3f}, precision {precision:.3f} (target both ≥ {TARGET}): {'met' if ok else 'NOT met'}")
        if args.incidents or args.reuse:
            held = node.store.one("SELECT COUNT(*) AS n FROM web_incidents")["n"]
            print(f"\n{held:,} incidents in the index")
            if not args.reuse:
                add_user(node.store, "bench", "analyst", "bench-password")
            slowest = measure_speed(node, home, cases, args.runs)
            fast = slowest < TARGET_MS
            print(f"slowest median HTTP list search: {slowest:.1f} ms "
                  f"({'under' if fast else 'OVER'} the {TARGET_MS} ms target)")
            ok = ok and fast
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
