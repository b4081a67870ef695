"""Helpers for the public-pages tests: a KZ node with debunks at every TLP, a partner's
clear debunk, and an incident withdrawn by a signed `revoked: true` version."""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

from node.home import Node
from node.incident import stix_now
from node.signing import SIGNATURE_EXT, sign
from nodes import edit_config, make_home

from conftest import incident_record, run_qalqan
from web_fixtures import import_from

JSON_LD_RE = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S)


def debunk(node: Node, title: str, tlp: str, **overrides) -> str:
    """Record an incident at `tlp` with its own URLs (an SCO's latest variant decides its TLP)."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    record = incident_record(title=title, tlp=tlp, urls=[f"https://t.me/{slug}/1", f"https://vk.com/{slug}"],
                             accounts=[{"platform": "telegram", "login": f"@{slug}"}], media_sha256=[],
                             **overrides)
    return node.add_incident(record).incident_id


def public_home(base: Path) -> tuple[Path, dict[str, str]]:
    """A KZ home with public.enabled and incidents by name: `clear` (a debunk with a claim
    that tries to close the JSON-LD block), `kk` (clear, in Kazakh), `green`, `amber`,
    `red`, `strict`, `unverified` (clear, verdict unverified), `partner` (UZ's clear
    debunk, imported), `withdrawn` (clear, then withdrawn)."""
    kz_home, uz_home = make_home(base, "kz", "KZ"), make_home(base, "uz", "UZ")
    edit_config(kz_home, "public.enabled", True)
    kz, uz = Node(kz_home), Node(uz_home)
    ids = {
        "clear": debunk(kz, "Zebrafish border hoax", "clear", claim="The border closes </script><!-- tomorrow."),
        "kk": debunk(kz, "Kazakh pension rumour", "clear", language="kk", verdict="misleading",
                     claim="Pensions stop in January."),
        "green": debunk(kz, "Greenish quokka story", "green"),
        "amber": debunk(kz, "Amberwing vaccine lie", "amber"),
        "red": debunk(kz, "Redstart election fake", "red"),
        "strict": debunk(kz, "Strictly secret hoax", "amber+strict"),
        "unverified": debunk(kz, "Unverified walrus claim", "clear", verdict="unverified"),
        "withdrawn": debunk(kz, "Withdrawn narwhal claim", "clear"),
    }
    ids["partner"] = debunk(uz, "Uzbek cotton fake", "clear", verdict="false", language="uz",
                            claim="Cotton exports are banned.")
    summary = import_from(kz, uz)
    assert summary.counts["rejected"] == 0, summary.failures
    withdraw(kz_home, ids["withdrawn"])
    return kz_home, ids


def withdraw(home: Path, incident_id: str) -> None:
    """Publish a new version of the incident with `revoked: true`, signed by its node,
    through `qalqan import` (any door would do: the index follows the newest version)."""
    node = Node(home)
    incident = json.loads(node.store.one("SELECT json FROM objects WHERE id = ? AND latest = 1",
                                         [incident_id])["json"])
    del incident["extensions"][SIGNATURE_EXT]
    incident.update(revoked=True, modified=stix_now())
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [sign(incident, node.signing_key)]}
    path = home / "withdrawn.json"
    path.write_text(json.dumps(bundle), "utf-8")
    done = run_qalqan("import", str(path), home=home)
    assert done.returncode == 0, done.stderr


def json_ld_of(html: str) -> dict:
    blocks = JSON_LD_RE.findall(html)
    assert len(blocks) == 1, f"expected one JSON-LD block, found {len(blocks)}"
    return json.loads(blocks[0])
