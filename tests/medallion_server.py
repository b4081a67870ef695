"""medallion 3.0.0, the OASIS reference TAXII server, as a real process on loopback:
one API root with one empty read/write collection, memory backend. Used by the
interop tests and by bench/taxii_paging.py (which runs it from its own virtualenv).
"""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

import requests

TAXII = "application/taxii+json;version=2.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_config(folder: Path, base: str, collection: str, users: dict[str, str], title: str,
                  max_page_size: int, max_content_length: int) -> Path:
    data = {
        "/discovery": {"title": "medallion", "default": f"{base}/api1/", "api_roots": [f"{base}/api1/"]},
        "api1": {
            "information": {"title": "api1", "versions": [TAXII], "max_content_length": max_content_length},
            "status": [],
            "collections": [{"id": collection, "title": title, "can_read": True, "can_write": True,
                             "media_types": ["application/stix+json;version=2.1"], "objects": [], "manifest": []}],
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "medallion-data.json").write_text(json.dumps(data))
    config = folder / "medallion.json"
    config.write_text(json.dumps({
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                    "filename": str(folder / "medallion-data.json")},
        "users": users, "taxii": {"max_page_size": max_page_size}}))
    return config


def _wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: medallion exited with {proc.returncode}")
        try:
            requests.get(url, headers={"Accept": TAXII}, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{url}: medallion did not answer")


@contextmanager
def medallion_process(folder: Path, python: str, users: dict[str, str], title: str = "Open feed",
                      max_page_size: int = 100, max_content_length: int = 100_000_000,
                      log: IO | int = subprocess.DEVNULL) -> Iterator[tuple[str, str]]:
    """Run medallion with `python`; yields (base URL, collection id) once it answers."""
    base = f"http://127.0.0.1:{_free_port()}"
    collection = str(uuid.uuid4())
    config = _write_config(folder, base, collection, users, title, max_page_size, max_content_length)
    proc = subprocess.Popen([python, "-c", "from medallion.scripts.run import main; main()", "--host", "127.0.0.1",
                             "--port", base.rsplit(":", 1)[1], str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(f"{base}/taxii2/", proc)
        yield base, collection
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
