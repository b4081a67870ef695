#!/usr/bin/env python3
"""TAXII paging benchmark (issue 3).

1. The same 2,000 signed objects served by this node (`qalqan serve`) and by medallion
   3.0.0 (the OASIS reference server, memory backend, installed into its own virtualenv
   bench/.venv-medallion), both on loopback, paged with taxii2-client
   `as_pages(per_request=100)`; runs alternate. Prints both rates and the ratio.
2. Scale: median latency of one 100-object page at 1,000 and at 1,000,000 stored
   objects. The large store is filled by direct SQL inserts into `objects` and
   `feed_entries` (rows shaped as ingest writes them, unsigned notes), not through
   ingest, which would take hours of signature checks; serving does not re-verify.

Run: .venv/bin/python bench/taxii_paging.py [--rounds 3] [--large 1000000]
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests
import yaml
from taxii2client.v21 import Collection, as_pages
from taxii2client.common import TokenAuth

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from medallion_server import medallion_process  # noqa: E402  (shared with the interop tests)

from node.home import Node, init_home  # noqa: E402
from node.ingest import OWN, Door  # noqa: E402
from node.signing import sign  # noqa: E402
from node.timefmt import now_us, us_to_taxii  # noqa: E402
from node.wellknown import TLP_MARKINGS  # noqa: E402

TAXII = "application/taxii+json;version=2.1"
MEDALLION_VENV = REPO / "bench" / ".venv-medallion"
PAGE = 100


# -- processes ---------------------------------------------------------------------

def medallion_python() -> Path:
    python = MEDALLION_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(MEDALLION_VENV)], check=True)
    check = subprocess.run([str(python), "-c", "import medallion, sys; sys.exit(medallion.__version__ != '3.0.0')"],
                           capture_output=True)
    if check.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "medallion==3.0.0"], check=True)
    return python


def wait_for(url: str, proc: subprocess.Popen, **kwargs) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited with {proc.returncode}")
        try:
            requests.get(url, headers={"Accept": TAXII}, timeout=2, **kwargs)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def qalqan_serve(home: Path):
    """Yields the base URL of `qalqan serve` for `home` on a free loopback port."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "node", "--home", str(home), "serve", "--host", "127.0.0.1",
                             "--port", "0", "--no-sync"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            raise SystemExit(f"qalqan serve did not start: {line!r}")
        base = line.split()[-1].rsplit("/taxii2/", 1)[0]
        wait_for(base + "/taxii2/", proc)
        yield base
    finally:
        stop(proc)


@contextmanager
def medallion(tmp: Path, objects: list[dict]):
    """Yields a taxii2-client Collection of a medallion 3.0.0 server holding `objects`."""
    with medallion_process(tmp, str(medallion_python()), {"bench": "bench"}, title="bench",
                           max_page_size=PAGE, max_content_length=500_000_000) as (base, collection):
        client = Collection(f"{base}/api1/collections/{collection}/", user="bench", password="bench")
        client.add_objects({"objects": objects}, wait_for_completion=True, timeout=600)
        yield client


# -- homes ---------------------------------------------------------------------------

def make_home(tmp: Path, name: str) -> tuple[Path, str]:
    """A home whose regional feed peer `bench` may read; returns (home, token)."""
    home = tmp / name
    init_home(home, "kz", "KZ")
    path = home / "feeds" / "regional.yaml"
    feed = yaml.safe_load(path.read_text())
    feed["readers"] = ["bench"]
    path.write_text(yaml.safe_dump(feed, sort_keys=False))
    return home, Node(home).create_token("bench")


def signed_notes(node: Node, count: int) -> list[dict]:
    stamp = "2026-11-01T00:00:00.000Z"
    return [sign({"type": "note", "spec_version": "2.1", "id": f"note--{uuid.uuid4()}", "created": stamp,
                  "modified": stamp, "created_by_ref": node.config.identity, "content": f"benchmark note {i}",
                  "object_refs": [node.config.identity], "object_marking_refs": [TLP_MARKINGS["green"]]},
                 node.signing_key) for i in range(count)]


def fill_directly(home: Path, count: int) -> tuple[str, int, int]:
    """Insert `count` notes straight into the regional feed; returns (feed id, first
    date_added, step). Rows match what ingest stores, minus a signature."""
    node = Node(home)
    feed = node.config.feed("regional").id
    identity = node.config.identity
    node.store.close()
    conn = sqlite3.connect(node.config.database_path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    start = (conn.execute("SELECT MAX(date_added) FROM feed_entries").fetchone()[0] or now_us()) + 1
    step, version, received = 1000, "2026-11-01T00:00:00.000000Z", now_us()
    conn.execute("BEGIN")
    for first in range(0, count, 50_000):
        objects, entries = [], []
        for i in range(first, min(first + 50_000, count)):
            oid = f"note--{uuid.UUID(int=random.getrandbits(128), version=4)}"
            text = (f'{{"content":"benchmark note {i}","created":"2026-11-01T00:00:00.000Z","created_by_ref":'
                    f'"{identity}","id":"{oid}","modified":"2026-11-01T00:00:00.000Z","object_marking_refs":'
                    f'["{TLP_MARKINGS["green"]}"],"object_refs":["{identity}"],"spec_version":"2.1","type":"note"}}')
            objects.append((oid, version, "note", "2.1", identity, "green", "own", None, received,
                            hashlib.sha256(text.encode()).hexdigest(), None, 1, text))
            entries.append((feed, start + i * step, oid, version, "note", "2.1", "green", 1, 1))
        conn.executemany("INSERT INTO objects (id, version, type, spec_version, created_by, tlp, origin, source,"
                         " received, digest, key_id, latest, json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", objects)
        conn.executemany("INSERT INTO feed_entries (feed, date_added, id, version, type, spec_version, tlp, latest,"
                         " first) VALUES (?,?,?,?,?,?,?,?,?)", entries)
    conn.execute("COMMIT")
    conn.close()
    return feed, start, step


# -- measurements --------------------------------------------------------------------

def page_through(collection: Collection) -> tuple[int, float]:
    began = time.perf_counter()
    count = sum(len(page.get("objects", [])) for page in as_pages(collection.get_objects, per_request=PAGE))
    return count, time.perf_counter() - began


def compare_with_medallion(tmp: Path, rounds: int) -> dict:
    home, token = make_home(tmp, "paging")
    node = Node(home)
    notes = signed_notes(node, 2000)
    node.ingest.run(notes, Door(OWN), batch=2001)
    ours_rates, theirs_rates = [], []
    with qalqan_serve(home) as base, medallion(tmp, notes) as theirs:
        ours = Collection(f"{base}/taxii2/api/collections/{node.config.feed('regional').id}/", auth=TokenAuth(token))
        for run in range(rounds):
            count, seconds = page_through(ours)
            ours_rates.append(count / seconds)
            print(f"  run {run + 1}: qalqan {count} objects in {seconds:.3f} s = {count / seconds:,.0f} objects/s",
                  flush=True)
            count, seconds = page_through(theirs)
            theirs_rates.append(count / seconds)
            print(f"  run {run + 1}: medallion {count} objects in {seconds:.3f} s = {count / seconds:,.0f} objects/s",
                  flush=True)
    ours_rate, theirs_rate = statistics.median(ours_rates), statistics.median(theirs_rates)
    return {"qalqan": ours_rate, "medallion": theirs_rate, "ratio": ours_rate / theirs_rate}


def scale_home(workdir: Path, size: int) -> dict:
    """A home holding `size` notes in its regional feed, made once per workdir."""
    home = workdir / f"scale-{size}"
    meta = home / "bench.json"
    if meta.exists():
        return json.loads(meta.read_text())
    if home.exists():
        raise SystemExit(f"{home} is a half-made benchmark home: remove it")
    home, token = make_home(workdir, f"scale-{size}")
    began = time.perf_counter()
    feed, start, step = fill_directly(home, size)
    print(f"  filled {size:,} objects in {time.perf_counter() - began:.1f} s", flush=True)
    info = {"home": str(home), "token": token, "feed": feed, "start": start, "step": step, "size": size}
    meta.write_text(json.dumps(info))
    return info


def page_latencies(workdir: Path, sizes: list[int], samples: int) -> dict[int, float]:
    """Median milliseconds of GET objects?limit=100&added_after=<random position>, one
    server per store size, requests interleaved so both see the same machine load.
    A bare keep-alive http.client connection keeps client overhead out of the figure."""
    homes = [scale_home(workdir, size) for size in sizes]
    timings: dict[int, list[float]] = {size: [] for size in sizes}
    with contextlib.ExitStack() as stack:
        targets = []
        for info in homes:
            base = stack.enter_context(qalqan_serve(Path(info["home"])))
            host, port = base.split("//", 1)[1].rsplit(":", 1)
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            stack.callback(conn.close)
            path = f"/taxii2/api/collections/{info['feed']}/objects/?limit={PAGE}&added_after="
            targets.append((info, conn, path))
        headers = {"Accept": TAXII}
        for sample in range(samples + 20):
            for info, conn, path in targets:
                position = random.randrange(0, info["size"] - PAGE)
                url = path + us_to_taxii(info["start"] + position * info["step"])
                began = time.perf_counter()
                conn.request("GET", url, headers={**headers, "Authorization": f"Token {info['token']}"})
                resp = conn.getresponse()
                body = resp.read()
                elapsed = time.perf_counter() - began
                assert resp.status == 200 and len(json.loads(body)["objects"]) == PAGE, body[:200]
                if sample >= 20:  # the first requests warm caches
                    timings[info["size"]].append(elapsed * 1000)
    return {size: statistics.median(values) for size, values in timings.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per server")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=300, help="pages timed per store size")
    parser.add_argument("--skip-medallion", action="store_true")
    parser.add_argument("--workdir", type=Path, help="keep (and reuse) the filled homes here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qalqan-bench-") as tmp:
        tmp = Path(tmp)
        workdir = args.workdir or tmp
        workdir.mkdir(parents=True, exist_ok=True)
        if not args.skip_medallion:
            print("2,000 objects paged with as_pages(per_request=100):", flush=True)
            rates = compare_with_medallion(tmp, args.rounds)
            print(f"qalqan {rates['qalqan']:,.0f} objects/s, medallion {rates['medallion']:,.0f} objects/s, "
                  f"ratio {rates['ratio']:.1f}x (target >= 20x)")
        print("one 100-object page, median latency:", flush=True)
        medians = page_latencies(workdir, [args.small, args.large], args.samples)
        small, large = medians[args.small], medians[args.large]
        print(f"  {args.small:,} stored objects: {small:.2f} ms", flush=True)
        print(f"  {args.large:,} stored objects: {large:.2f} ms", flush=True)
        ok = large <= 2 * small and large < 20
        print(f"ratio {large / small:.2f} (target <= 2), {large:.2f} ms at {args.large:,} (target < 20 ms): "
              f"{'PASS' if ok else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
