"""Ingest benchmark: N objects signed by a second node, imported with `qalqan import`.

Prints objects/s verified and stored, and the import process's peak memory, for
several N (memory must not grow with N: the file is streamed). As the baseline it
names, it also prints the raw Ed25519 verification rate of `cryptography` on this
machine, single core.

    .venv/bin/python bench/ingest.py            # N = 10,000, 50,000 and 100,000
    .venv/bin/python bench/ingest.py 20000      # one N
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


def raw_verify_rate(node: Node, seconds: float = 1.0) -> float:
    public = node.signing_key.private_key.public_key()
    data = b"x" * 600
    signature = node.signing_key.private_key.sign(data)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        public.verify(signature, data)
        count += 1
    return count / (time.perf_counter() - start)


def run_import(home: Path, bundle: Path) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "node", "--home", str(home), "import", str(bundle), "--from", "uz"],
                         capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if out.returncode != 0:
        raise SystemExit(f"import failed: {out.stderr or out.stdout}")
    return elapsed, max(peak_kib, before) / 1024, out.stdout.strip()


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 50_000, 100_000]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        init_home(tmp / "uz", "uz", "UZ")
        uz = Node(tmp / "uz")
        baseline = raw_verify_rate(uz)
        print(f"baseline: cryptography Ed25519 verify alone, one core: {baseline:,.0f} /s")
        print(f"{'N':>8} {'import s':>9} {'objects/s':>10} {'peak MiB':>9}  result")
        for n in sizes:
            home = tmp / f"kz{n}"
            init_home(home, "kz", "KZ")
            kz = Node(home)
            kz.trust_card(uz.card())
            kz.add_peer("uz", uz.card(), "http://127.0.0.1:9/taxii2/")
            bundle = tmp / f"bundle{n}.json"
            write_signed_bundle(bundle, uz, n)
            # Measure each size in a fresh child so ru_maxrss is that import's own peak.
            probe = subprocess.run([sys.executable, __file__, "--one", str(home), str(bundle)],
                                   capture_output=True, text=True)
            if probe.returncode != 0:
                raise SystemExit(probe.stderr)
            elapsed, peak, result = json.loads(probe.stdout)
            print(f"{n:>8,} {elapsed:>9.2f} {n / elapsed:>10,.0f} {peak:>9.1f}  {result}")
            bundle.unlink()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(run_import(Path(sys.argv[2]), Path(sys.argv[3]))))
    else:
        main()
