"""Alerts benchmark: does the watches' ingest hook slow a large import?

N incidents recorded and signed by a second node (each about a dozen STIX objects:
incident, report, observables, observed-data, relationships) are imported with
`qalqan import --from uz` into two fresh nodes: one without watches, one with W watches
(terms, text, observables; a third of the incidents match at least one). Prints
objects/s of each, and the notifications and deliveries the watched node queued.

    .venv/bin/python bench/alerts.py            # N = 2,000 incidents, W = 20 watches
    .venv/bin/python bench/alerts.py 5000 50
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node import incident as incident_mod  # noqa: E402
from node.alerts.watches import add_watch  # noqa: E402
from node.home import Node, init_home  # noqa: E402
from node.signing import sign, signature_of  # noqa: E402
from node.sco import SCO_TYPES  # noqa: E402
from node.users import add_user  # noqa: E402

COUNTRIES = ["KZ", "UZ", "AZ", "KG", "TR", "HU"]
VERDICTS = ["false", "misleading", "manipulated", "fabricated", "satire"]
PLATFORMS = ["telegram", "tiktok", "youtube", "vk", "facebook"]


def record(i: int) -> dict:
    return {
        "title": f"Bench incident {i}: forged ministry statement", "summary": f"Case {i} of a forged decree.",
        "claim": "The border closes tomorrow.", "language": "ru", "first_seen": "2026-11-20T08:00:00Z",
        "platforms": [PLATFORMS[i % 5]], "target_countries": [COUNTRIES[i % 6], COUNTRIES[(i + 1) % 6]],
        "disarm": ["T0023"], "urls": [f"https://t.me/channel{i % 300}/{i}"],
        "accounts": [{"platform": "telegram", "login": f"@channel{i % 300}"}],
        "verdict": VERDICTS[i % 5], "confidence": 80, "tlp": "green",
    }


def write_bundle(path: Path, uz: Node, n: int) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write('{"type":"bundle","id":"bundle--%s","objects":[\n' % uuid.uuid4())
        out.write(json.dumps(uz.card(), ensure_ascii=False))
        for i in range(n):
            rec = incident_mod.validate(record(i), uz.disarm, "amber", set(uz.config.feeds))
            built = incident_mod.build(rec, uz.config.identity, "UZ", uz.disarm, uz.scoped_ids)
            for obj in built.objects:
                if obj["type"] not in SCO_TYPES and not signature_of(obj):
                    obj = sign(obj, uz.signing_key)
                out.write(",\n" + json.dumps(obj, ensure_ascii=False))
                count += 1
        out.write("\n]}\n")
    return count


def watches(node: Node, count: int) -> None:
    add_user(node.store, "ana", "analyst", "a long enough password")
    shapes = [{"target_country": "HU", "verdict": "fabricated"}, {"text": "forged decree", "platform": "vk"},
              {"observable": "@channel7"}, {"observable": "https://t.me/channel42/42"},
              {"technique": "T0023", "target_country": "KG", "verdict": "satire"}]
    for i in range(count):
        add_watch(node.store, node.home, node.disarm, f"w{i}", "ana", shapes[i % len(shapes)],
                  emails=[f"analyst{i}@example.org"])


def run_import(home: Path, bundle: Path) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "node", "--home", str(home), "import", str(bundle), "--from", "uz",
                          "--workers", "0"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return time.perf_counter() - start, out.stdout.strip()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    w = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        init_home(tmp / "uz", "uz", "UZ")
        uz = Node(tmp / "uz")
        bundle = tmp / "bundle.json"
        objects = write_bundle(bundle, uz, n)
        print(f"{n:,} incidents, {objects:,} objects")
        print(f"{'watches':>8} {'import s':>9} {'objects/s':>10} {'notified':>9} {'queued':>7}  result")
        for count in (0, w, 0, w):
            home = tmp / f"kz-{uuid.uuid4().hex[:6]}"
            init_home(home, "kz", "KZ")
            kz = Node(home)
            kz.add_peer("uz", uz.card(), "http://127.0.0.1:9/taxii2/")
            if count:
                watches(kz, count)
            elapsed, result = run_import(home, bundle)
            kz = Node(home)
            notified = kz.store.one("SELECT COUNT(*) AS n FROM notifications")["n"]
            queued = kz.store.one("SELECT COUNT(*) AS n FROM alert_deliveries")["n"]
            print(f"{count:>8} {elapsed:>9.2f} {objects / elapsed:>10,.0f} {notified:>9,} {queued:>7,}  {result}")


if __name__ == "__main__":
    main()
