"""Ingest benchmark: N objects signed by a second node, imported with `qalqan import`.

Prints objects/s verified and stored, and the peak anonymous memory (heap) of the
import process and its workers, for several N (it must not grow with N: the file is
streamed), with and without verification workers. As the baseline it
names, it also prints the raw Ed25519 verification rate of `cryptography` on this
machine, single core.

    .venv/bin/python bench/ingest.py            # N = 10,000, 50,000 and 100,000
    .venv/bin/python bench/ingest.py 20000      # one N
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


def run_import(home: Path, bundle: Path, workers: int) -> tuple[float, float, str]:
    """Import the bundle with `qalqan import`; returns seconds, peak anonymous MiB, result line."""
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
    return elapsed, peak / 1024, out.strip()


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 50_000, 100_000]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        init_home(tmp / "uz", "uz", "UZ")
        uz = Node(tmp / "uz")
        baseline = raw_verify_rate(uz)
        print(f"baseline: cryptography Ed25519 verify alone, one core: {baseline:,.0f} /s")
        print(f"{'N':>8} {'workers':>7} {'import s':>9} {'objects/s':>10} {'heap MiB':>9}  result")
        for n in sizes:
            bundle = tmp / f"bundle{n}.json"
            write_signed_bundle(bundle, uz, n)
            for workers in (0, 2):
                home = tmp / f"kz{n}-{workers}"
                init_home(home, "kz", "KZ")
                Node(home).add_peer("uz", uz.card(), "http://127.0.0.1:9/taxii2/")
                elapsed, peak, result = run_import(home, bundle, workers)
                print(f"{n:>8,} {workers:>7} {elapsed:>9.2f} {n / elapsed:>10,.0f} {peak:>9.1f}  {result}")
            bundle.unlink()


if __name__ == "__main__":
    main()
