"""Helpers for the sync tests: real server processes on loopback, signed test objects,
and questions asked of a node's database.

`nodes.running_node` serves on a port picked at start and without sync; these tests
need a fixed port per node (partners are configured with it, and a node is stopped,
killed and restarted on it) and the background sync on or off, hence `Member`."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import requests

from node.home import Node
from node.ingest import OWN, Door

from medallion_server import medallion_process
from nodes import REPO, TAXII, edit_config, signed_notes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 30.0, every: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def _wait_for_http(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    def up():
        if proc.poll() is not None:
            raise AssertionError(f"{url}: the server exited with {proc.returncode}")
        try:
            requests.get(url, timeout=1, headers={"Accept": TAXII})
            return True
        except requests.ConnectionError:
            return False
    wait_until(up, timeout, what=f"{url} to answer")


def stop_process(proc: subprocess.Popen, kill: bool = False) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# -- signed objects ----------------------------------------------------------------

def publish_notes(home: Path, count: int, tlp: str = "green", text: str = "note") -> list[str]:
    """Store `count` own notes at the node of `home` (as `incident add` would store objects); their ids."""
    node = Node(home)
    notes = signed_notes(node, count, tlp, content=text)
    summary = node.ingest.run(notes, Door(OWN), batch=1000, keep_outcomes=False)
    assert summary.counts["accepted"] == count, summary.line()
    return [n["id"] for n in notes]


# -- what a node holds -----------------------------------------------------------

def held(home: Path, ids) -> dict[str, int]:
    """How many stored versions the node of `home` has of each id (0 if none)."""
    node = Node(home)
    counts = {i: 0 for i in ids}
    rows = node.store.query("SELECT id, COUNT(*) AS n FROM objects WHERE type = 'note' GROUP BY id")
    for row in rows:
        if row["id"] in counts:
            counts[row["id"]] = row["n"]
    return counts


def stored_json(home: Path, object_id: str) -> str | None:
    return Node(home).store.object_json(object_id)


def quarantined_ids(home: Path) -> set[str]:
    return {r["id"] for r in Node(home).store.query("SELECT id FROM quarantine")}


def peer_row(home: Path, peer: str) -> dict:
    return Node(home).store.one("SELECT * FROM peers WHERE name = ?", [peer]) or {}


def feed_id(home: Path, feed: str) -> str:
    return Node(home).config.feed(feed).id


# -- medallion 3.0.0 (the OASIS reference TAXII server) -----------------------------

@contextmanager
def medallion(tmp: Path, user: str, password: str) -> Iterator[dict]:
    """A real medallion process on loopback with one empty read/write collection.
    Yields {"discovery", "objects_url", "collection", "auth"}."""
    python = os.environ.get("MEDALLION_PYTHON", sys.executable)
    tmp.mkdir(parents=True, exist_ok=True)
    with (tmp / "medallion.log").open("w") as log, \
            medallion_process(tmp, python, {user: password}, log=log) as (base, collection):
        yield {"discovery": f"{base}/taxii2/", "objects_url": f"{base}/api1/collections/{collection}/objects/",
               "collection": collection, "auth": (user, password)}


def taxii_post(url: str, objects: list[dict], auth=None, token: str | None = None) -> dict:
    headers = {"Accept": TAXII, "Content-Type": TAXII}
    if token:
        headers["Authorization"] = f"Token {token}"
    resp = requests.post(url, data=json.dumps({"objects": objects}), headers=headers, auth=auth, timeout=30)
    resp.raise_for_status()
    return resp.json()


# -- real nodes: `qalqan serve` processes on loopback ----------------------------------

def qalqan_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "node", *map(str, args)]


def run(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(qalqan_cmd(*args), capture_output=True, text=True, timeout=timeout, cwd=REPO)


def edit_yaml(path: Path, change) -> None:
    import yaml
    data = yaml.safe_load(path.read_text("utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")


def set_setting(home: Path, key: str, value) -> None:
    edit_config(home, key, value)


class Member:
    """One node of a test network: its home, its port, its `qalqan serve` process."""

    def __init__(self, root: Path, name: str, country: str):
        from node.home import init_home
        self.name = name
        self.port = free_port()
        self.home = root / name
        init_home(self.home, name, country, f"http://127.0.0.1:{self.port}")
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def discovery(self) -> str:
        return f"http://127.0.0.1:{self.port}/taxii2/"

    def node(self) -> Node:
        return Node(self.home)

    def card(self) -> dict:
        return self.node().card()

    def feed_id(self, feed: str) -> str:
        return feed_id(self.home, feed)

    def open_feed(self, feed: str, peer: str) -> None:
        def change(data):
            for key in ("readers", "writers"):
                data[key] = sorted(set(data.get(key) or []) | {peer})
        edit_yaml(self.home / "feeds" / f"{feed}.yaml", change)

    def start(self, sync: bool = False) -> None:
        self._log = (self.home / "serve.log").open("a")
        args = ["serve", "--home", self.home, "--port", self.port] + ([] if sync else ["--no-sync"])
        self.proc = subprocess.Popen(qalqan_cmd(*args), stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO)
        _wait_for_http(self.discovery, self.proc)

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None:
            stop_process(self.proc, kill=kill)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def sync(self, *args) -> subprocess.CompletedProcess:
        return run("sync", "--home", self.home, "--once", *args)

    def add_incident(self, tmp: Path, **record) -> tuple[str, str]:
        """`qalqan incident add`: returns (report id, incident id)."""
        import yaml
        path = tmp / f"{self.name}-{uuid.uuid4()}.yaml"
        path.write_text(yaml.safe_dump(record, allow_unicode=True), "utf-8")
        out = run("incident", "add", path, "--home", self.home)
        assert out.returncode == 0, out.stderr
        report_id, incident_id = out.stdout.split()[:2]
        return report_id, incident_id


class Network:
    """Nodes joined by bilateral links over named feeds; every node pins its neighbours' cards."""

    def __init__(self, root: Path, countries: dict[str, str]):
        self.root = root
        self.members = {name: Member(root, name, cc) for name, cc in countries.items()}

    def __getitem__(self, name: str) -> Member:
        return self.members[name]

    def link(self, a: str, b: str, feeds: list[str]) -> None:
        for here, there in ((a, b), (b, a)):
            for feed in feeds:
                self[here].open_feed(feed, there)
        for here, there in ((a, b), (b, a)):
            token = self[there].node().create_token(here)
            ids = [self[there].feed_id(f) for f in feeds]
            self[here].node().add_peer(there, self[there].card(), self[there].discovery, token=token,
                                       pull=ids, push=ids)

    def pin(self, who: str, card_of: str) -> subprocess.CompletedProcess:
        """`qalqan trust add` at `who` of the card of `card_of`."""
        path = self.root / f"{card_of}.card.json"
        path.write_text(json.dumps(self[card_of].card()))
        out = run("trust", "add", "--card", path, "--home", self[who].home)
        assert out.returncode == 0, out.stderr
        return out

    def start(self, sync: bool = False) -> None:
        for member in self.members.values():
            member.start(sync=sync)

    def stop(self) -> None:
        running = [m for m in self.members.values() if m.proc is not None and m.proc.poll() is None]
        for member in running:
            member.proc.send_signal(signal.SIGTERM)  # all at once: each takes a moment to wind down
        for member in self.members.values():
            member.stop()
