"""Reusable helpers for tests that need real nodes: homes, partners, feed edits, and
`qalqan serve` running as a subprocess on a free loopback port.

Plain functions and context managers (no fixtures), so any test module can import them.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import requests
import yaml

from node.home import Node, init_home
from node.signing import sign
from node.wellknown import TLP_MARKINGS

REPO = Path(__file__).resolve().parent.parent
TAXII = "application/taxii+json;version=2.1"


def make_home(base: Path, name: str, country: str) -> Path:
    """An initialised node home at base/name."""
    home = Path(base) / name
    init_home(home, name, country, "http://127.0.0.1:8001")
    return home


def edit_feed(home: Path, feed: str, **values) -> None:
    """Change keys of feeds/<feed>.yaml (do it before the node starts serving)."""
    path = Path(home) / "feeds" / f"{feed}.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    data.update(values)
    path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")


def edit_config(home: Path, key: str, value) -> None:
    path = Path(home) / "config.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    *parents, last = key.split(".")
    target = data
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")


def introduce(served: Path, partner: Path, url: str = "http://127.0.0.1:9/taxii2/") -> str:
    """Make `partner` a known peer of the node at `served`: pin its card, list it in
    config (so its identity is known) and return a fresh token it can present."""
    partner_node = Node(partner)
    node = Node(served)
    node.add_peer(partner_node.config.name, partner_node.card(), url)
    return node.create_token(partner_node.config.name)


def signed_notes(node: Node, count: int, tlp: str = "green", modified: str = "2026-11-01T00:00:00.000Z",
                 ids: list[str] | None = None, content: str = "note") -> list[dict]:
    """`count` notes created and signed by `node`."""
    ids = ids or [f"note--{uuid.uuid4()}" for _ in range(count)]
    return [sign({"type": "note", "spec_version": "2.1", "id": oid, "created": "2026-11-01T00:00:00.000Z",
                  "modified": modified, "created_by_ref": node.config.identity, "content": f"{content} {i}",
                  "object_refs": [node.config.identity], "object_marking_refs": [TLP_MARKINGS[tlp]]},
                 node.signing_key) for i, oid in enumerate(ids)]


@contextmanager
def running_node(home: Path, *extra: str, timeout: float = 60.0, tls_ca: str | None = None,
                 client_cert: tuple[str, str] | None = None) -> Iterator[str]:
    """Run `qalqan serve --port 0 --no-sync` for `home`; yields the base URL
    (http://127.0.0.1:PORT, https:// when the home has TLS) once /taxii2/ answers;
    SIGTERM on exit. `tls_ca`/`client_cert` are what the readiness check presents."""
    with serving(home, *extra, timeout=timeout, tls_ca=tls_ca, client_cert=client_cert) as (base, _):
        yield base


@contextmanager
def serving(home: Path, *extra: str, global_options: tuple[str, ...] = (), timeout: float = 60.0,
            tls_ca: str | None = None, client_cert: tuple[str, str] | None = None
            ) -> Iterator[tuple[str, subprocess.Popen]]:
    """Like running_node, but yields (base URL, process): `server_log(process)` is what
    it wrote on stderr so far. `global_options` go before the subcommand (--log-format)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    log = tempfile.TemporaryFile("w+")  # a pipe could fill up and stall the server
    proc = subprocess.Popen([sys.executable, "-m", "node", "--home", str(home), *global_options, "serve",
                             "--host", "127.0.0.1", "--port", "0", "--no-sync", *extra],
                            stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=str(REPO))
    proc.log = log
    try:
        base = _listening_url(proc, timeout).rsplit("/taxii2/", 1)[0]
        _wait_for(base + "/taxii2/", proc, timeout, verify=tls_ca or True, cert=client_cert)
        yield base, proc
    finally:
        stop(proc)


@contextmanager
def serving_in_process(home: Path) -> Iterator[str]:
    """Serve `home` from this process: the same app on the same server as `qalqan serve`,
    on a thread, on a port the OS picks. For tests of HTTP behaviour, where the process
    itself does not matter. Yields the base URL."""
    from node.server import build_server
    server, host, port = build_server(Path(home), "127.0.0.1", 0)
    stop = threading.Event()
    worker = threading.Thread(target=server.run, args=(stop,), name="test-http", daemon=True)
    worker.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        stop.set()
        worker.join(10)
        server.sock.close()


def _listening_url(proc: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("listening on "):
            return line.split()[-1]
        if not line and proc.poll() is not None:
            raise AssertionError(f"qalqan serve exited with {proc.returncode}: {server_log(proc)}")
    raise AssertionError("qalqan serve did not report its address")


def _wait_for(url: str, proc: subprocess.Popen, timeout: float, verify=True, cert=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"qalqan serve exited with {proc.returncode}")
        try:
            requests.get(url, headers={"Accept": TAXII}, timeout=2, verify=verify, cert=cert)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer")


def stop(proc: subprocess.Popen) -> int:
    """SIGTERM, then wait; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc.stdout:
        proc.stdout.close()
    return proc.returncode


def server_log(proc: subprocess.Popen) -> str:
    log = getattr(proc, "log", None)
    if log is None:
        return ""
    log.seek(0)
    return log.read()
