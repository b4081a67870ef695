"""Core fixtures: node homes, the `qalqan` command, the signing test vector."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from node.home import Node, init_home
from nodes import edit_config as set_config, edit_feed as set_feed  # noqa: F401 (re-exported)

ASSETS = Path(__file__).resolve().parent / "assets"

# Fixture modules; their plain helpers stay importable (`from web_fixtures import csrf_from`).
pytest_plugins = ["web_fixtures", "taxii_fixtures", "fuzz_fixtures"]


@pytest.fixture
def signing_vector() -> dict:
    """The worked example of docs/signing.md (docs/vectors/signing-v1.json, same bytes)."""
    return json.loads((ASSETS / "signing-v1.json").read_text("utf-8"))


@pytest.fixture
def make_home(tmp_path):
    """make_home("kz", "KZ") → an initialised home folder."""

    def make(name: str = "kz", country: str = "KZ", port: int = 8001) -> Path:
        home = tmp_path / name
        init_home(home, name, country, f"http://127.0.0.1:{port}")
        return home

    return make


@pytest.fixture
def kz(make_home) -> Node:
    return Node(make_home("kz", "KZ"))


@pytest.fixture
def uz(make_home) -> Node:
    return Node(make_home("uz", "UZ", port=8002))


def run_qalqan(*args: str, input: str | None = None, home: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "node", *([f"--home={home}"] if home else []), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=120)


@pytest.fixture
def qalqan():
    return run_qalqan


def incident_record(**overrides) -> dict:
    record = {
        "title": "Fabricated «ministry statement» video",
        "summary": "A video claims the Kazakhstan–Uzbekistan border closes tomorrow.",
        "claim": "The border closes tomorrow.",
        "language": "ru",
        "first_seen": "2026-11-20T08:00:00Z",
        "platforms": ["telegram", "tiktok"],
        "target_countries": ["KZ", "UZ"],
        "disarm": ["T0023", "T0086.002"],
        "urls": ["https://t.me/fakechannel/123"],
        "accounts": [{"platform": "telegram", "login": "@fakechannel"}],
        "media_sha256": ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
        "verdict": "fabricated",
        "confidence": 85,
        "fact_check_url": "https://factcheck.example.kz/border",
        "threat_actor": "Unknown network",
        "tlp": "green",
    }
    record.update(overrides)
    return record
