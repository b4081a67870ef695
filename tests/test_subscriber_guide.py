"""The README's subscriber guide, run: docs/examples/subscribe.py (taxii2-client) pulls a
feed from `qalqan serve` with a partner's token and the public feed without one, and
docs/examples/verify.mjs (Node.js) verifies what it fetched against the node's card."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from node.home import Node
from nodes import edit_feed, introduce, running_node
from conftest import incident_record, run_qalqan
from test_js_verifier import run_verifier

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "subscribe.py"


def subscribe(base: str, feed: str, out: Path, token: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "QALQAN_TOKEN"} | ({"QALQAN_TOKEN": token} if token else {})
    return subprocess.run([sys.executable, str(EXAMPLE), base + "/taxii2/", feed, str(out)], capture_output=True,
                          text=True, timeout=120, env=env)


def test_a_subscriber_pulls_with_taxii2_client_and_verifies_with_node(make_home, tmp_path):
    kz_home, uz_home = make_home("kz", "KZ"), make_home("uz", "UZ", port=8002)
    kz = Node(kz_home)
    clear = kz.add_incident(incident_record(title="A clear debunk", tlp="clear")).incident_id
    green = kz.add_incident(incident_record(title="A green incident", tlp="green")).incident_id
    token = introduce(kz_home, uz_home)
    edit_feed(kz_home, "regional", readers=["uz"])
    card = tmp_path / "kz-card.json"
    card.write_text(run_qalqan("card", home=kz_home).stdout, "utf-8")
    with running_node(kz_home) as base:
        regional = subscribe(base, "Regional (Organization of Turkic States)", tmp_path / "regional.json", token)
        public = subscribe(base, "Public", tmp_path / "public.json", None)
        refused = subscribe(base, "Regional (Organization of Turkic States)", tmp_path / "none.json", None)
    assert regional.returncode == 0, regional.stderr
    held = json.loads((tmp_path / "regional.json").read_text("utf-8"))["objects"]
    assert {o["id"] for o in held if o["type"] == "incident"} == {clear, green}
    assert public.returncode == 0, public.stderr
    open_objects = json.loads((tmp_path / "public.json").read_text("utf-8"))["objects"]
    assert [o["id"] for o in open_objects if o["type"] == "incident"] == [clear]
    assert refused.returncode != 0
    assert "no feed 'Regional (Organization of Turkic States)' you may read" in refused.stderr
    for fetched in ("regional.json", "public.json"):
        done = run_verifier(tmp_path / fetched, "--card", card)
        assert done.returncode == 0 and " 0 failed" in done.stdout, done.stdout
