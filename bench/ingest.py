"""Ingest benchmark: N objects signed by a second node, imported with `qalqan import`.

Prints objects/s verified and stored, and the peak anonymous memory (heap) of the
import process and its workers, for several N (it must not grow with N: the file is
streamed), with and without verification workers. As the baseline it
names, it also prints the raw Ed25519 verification rate of `cryptography` on this
machine, single core.

    .venv/bin/python bench/ingest.py            # N = 10,000, 50,000 and 100,000
    .venv/bin/python bench/ingest.py 20000      # one N
    .venv/bin/python bench/ingest.py --incidents 3000   # real incidents instead of notes

With --incidents K the bundle is K incidents recorded at the second node through
`Node.add_incident` (each with its report, URL, account, media hash, relationships:
about 7 objects), texts in the region's languages, exported with `qalqan export`'s code:
the import then also feeds the incident index (filter terms, full text, search keys).
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.home import Node, init_home  # noqa: E402
from node.signing import sign  # noqa: E402
from node.wellknown import TLP_MARKINGS  # noqa: E402


def write_signed_bundle(path: Path, node: Node, n: int) -> None:
    """Stream n signed notes (about the size of an incident) into a bundle file."""
    identity = node.config.identity
    with path.open("w", encoding="utf-8") as out:
        out.write('{"type":"bundle","id":"bundle--%s","objects":[\n' % uuid.uuid4())
        out.write(json.dumps(node.card(), ensure_ascii=False))
        for i in range(n):
            stamp = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i // 60) % 60:02d}.{i % 1000:03d}Z"
            obj = {
                "type": "note", "spec_version": "2.1", "id": f"note--{uuid.uuid4()}",
                "created": stamp, "modified": stamp, "created_by_ref": identity,
                "abstract": f"Benchmark incident note {i}",
                "content": "Фейковое заявление министерства о закрытии границы; "
                           "Chegara yopilishi haqidagi soxta bayonot. " * 3,
                "authors": ["qalqan-bench"], "object_refs": [identity],
                "object_marking_refs": [TLP_MARKINGS["green"]],
            }
            out.write(",\n" + json.dumps(sign(obj, node.signing_key), ensure_ascii=False))
        out.write("\n]}\n")


# Claims for the --incidents bundle: Russian, Kazakh, Uzbek, Azerbaijani, Turkish, Kyrgyz.
CLAIMS = [
    "Граница с Казахстаном будет закрыта с понедельника, сообщают анонимные каналы",
    "Қазақстан мен Қытай шекарасы жабылады деген хабар жалған",
    "Oʻzbekiston va Qirgʻiziston chegarasi yopiladi degan xabar yolgʻon",
    "Azərbaycan ilə Ermənistan sərhədində atışma olduğu barədə xəbər yalandır",
    "Seçimlerde oyların çalındığı iddia edilen video montaj çıktı",
    "Кыргызстандын чек арасы жабылат деген маалымат жалган",
]


def write_incident_bundle(path: Path, node: Node, k: int) -> int:
    """Record k incidents at `node` and export them; returns the bundle's object count."""
    for i in range(k):
        claim = CLAIMS[i % len(CLAIMS)]
        node.add_incident({
            "title": f"{claim.split(',')[0]} ({i})", "summary": f"{claim}. Отчёт {i}; hisobot {i}.",
            "claim": claim, "language": ["ru", "kk", "uz", "az", "tr", "ky"][i % len(CLAIMS)],
            "first_seen": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T08:00:00Z", "verdict": "false", "tlp": "green",
            "platforms": ["telegram"], "target_countries": ["KZ", "UZ"],
            "urls": [f"https://t.me/bench_channel_{i % 97}/{i}"],
            "accounts": [{"platform": "telegram", "login": f"@bench_channel_{i % 97}"}],
            "media_sha256": [f"{i:064x}"], "threat_actor": f"Bench network {i % 13}"})
    with path.open("w", encoding="utf-8") as out:
        return node.export(out)


def raw_verify_rate(node: Node, seconds: float = 1.0) -> float:
    public = node.signing_key.private_key.public_key()
    data = b"x" * 600
    signature = node.signing_key.private_key.sign(data)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        public.verify(signature, data)
        count += 1
    return count / (time.perf_counter() - start)


def _rss_anon_kib(pid: int) -> int:
    """Anonymous resident memory (heap, stacks) of a process and its children. The
    store's pages, memory-mapped by SQLite, are file-backed page cache: not counted."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("RssAnon:")), 0)
        pids += [int(c) for c in children]
    return total


def run_import(home: Path, bundle: Path, workers: int) -> tuple[float, float, float, str]:
    """Import the bundle with `qalqan import`; returns seconds, CPU seconds (the import and
    its workers: on a shared machine a fairer measure of the work), peak anonymous MiB and
    the result line."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "node", "--home", str(home), "import", str(bundle), "--from", "uz",
                             "--workers", str(workers)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _rss_anon_kib(proc.pid))
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"import failed: {err or out}")
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = now.ru_utime + now.ru_stime - used.ru_utime - used.ru_stime
    return elapsed, cpu, peak / 1024, out.strip()


def main() -> None:
    args = sys.argv[1:]
    incidents = int(args[args.index("--incidents") + 1]) if "--incidents" in args else 0
    sizes = [] if incidents else [int(a) for a in args] or [10_000, 50_000, 100_000]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        init_home(tmp / "uz", "uz", "UZ")
        uz = Node(tmp / "uz")
        baseline = raw_verify_rate(uz)
        print(f"baseline: cryptography Ed25519 verify alone, one core: {baseline:,.0f} /s")
        print(f"{'N':>8} {'workers':>7} {'import s':>9} {'objects/s':>10} {'CPU s':>7} {'heap MiB':>9}  result")
        bundles = [(n, lambda path, n=n: write_signed_bundle(path, uz, n) or n) for n in sizes]
        if incidents:
            bundles = [(incidents, lambda path: write_incident_bundle(path, uz, incidents))]
        for label, write in bundles:
            bundle = tmp / f"bundle{label}.json"
            n = write(bundle)
            for workers in (0, 2):
                home = tmp / f"kz{label}-{workers}"
                init_home(home, "kz", "KZ")
                Node(home).add_peer("uz", uz.card(), "http://127.0.0.1:9/taxii2/")
                elapsed, cpu, peak, result = run_import(home, bundle, workers)
                print(f"{n:>8,} {workers:>7} {elapsed:>9.2f} {n / elapsed:>10,.0f} {cpu:>7.2f} {peak:>9.1f}  {result}")
                if incidents:
                    indexed = Node(home).store.one("SELECT COUNT(*) AS n FROM web_incidents")["n"]
                    print(f"{'':>8} {'':>7} {incidents / elapsed:>9,.0f} incidents/s; {indexed:,} in the index")
            bundle.unlink()


if __name__ == "__main__":
    main()
