"""A response recorded at UZ against KZ's incident reaches KZ and shows on KZ's incident
page and dashboard: two real `qalqan serve` nodes on loopback, read over HTTP as an
analyst's browser would (issue 12, point 4)."""
import re
from html import unescape

import pytest
import requests
import yaml

from node.home import Node
from node.users import add_user
from conftest import incident_record
from sync_fixtures import Network, run, stored_json
from web_fixtures import csrf_from

ANALYST = ("ana", "a long enough password")


@pytest.fixture
def net(tmp_path):
    net = Network(tmp_path, {"kz": "KZ", "uz": "UZ"})
    net.link("kz", "uz", ["bilateral", "regional"])
    add_user(Node(net["kz"].home).store, ANALYST[0], "analyst", ANALYST[1])
    net.start()
    yield net
    net.stop()


def logged_in(base: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=10)
    answer = session.post(f"{base}/login", data={"csrf_token": csrf_from(page.text), "name": ANALYST[0],
                                                 "password": ANALYST[1]}, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return session


def text_of(html: str) -> str:
    return unescape(" ".join(re.sub(r"<[^>]+>", " ", html).split()))


@pytest.mark.parametrize("tlp", ["amber", "green"])
def test_a_response_at_uz_to_kzs_incident_reaches_kz_and_shows_on_its_page_and_dashboard(net, tmp_path, tlp):
    kz, uz = net["kz"], net["uz"]
    _report, incident = kz.add_incident(tmp_path, **incident_record(tlp=tlp, first_seen="2026-11-20T08:00:00Z"))
    assert uz.sync().returncode == 0
    assert stored_json(uz.home, incident) is not None

    path = tmp_path / "response.yaml"
    path.write_text(yaml.safe_dump({"kind": "content-removed", "at": "2026-11-21 08:00",
                                    "description": "Telegram removed the channel after our report.",
                                    "url": "https://t.me/fakechannel", "countermeasures": ["C00133"]}), "utf-8")
    out = run("response", "add", incident, path, "--home", uz.home)
    assert out.returncode == 0, out.stderr
    response = out.stdout.strip()

    out = uz.sync()  # UZ pushes its own objects to KZ
    assert out.returncode == 0, out.stderr
    assert stored_json(kz.home, response) == stored_json(uz.home, response)
    relation = Node(uz.home).store.one("SELECT id FROM objects WHERE type = 'relationship' AND instr(json, ?) > 0",
                                       [response])["id"]
    assert stored_json(kz.home, relation) == stored_json(uz.home, relation)

    base = f"http://127.0.0.1:{kz.port}"
    analyst = logged_in(base)
    page = analyst.get(f"{base}/incidents/{incident}", timeout=10).text
    shown = text_of(page.split('id="responses"', 1)[1].split("</section>", 1)[0])
    assert ("Nov 21, 2026, 8:00 AM UTC Content removed — uz (UZ) Telegram removed the channel after our report. "
            "https://t.me/fakechannel C00133 Deplatform Account*") in shown

    dashboard = analyst.get(f"{base}/dashboard", timeout=10).text
    assert "1 response held" in dashboard
    assert "Median time from first seen to the first response: <strong>24.0 h</strong>, over 1 incident " in dashboard
    data = analyst.get(f"{base}/dashboard/data.json", timeout=10).json()
    assert data["responses_per_week"] == {"weeks": ["2026-11-16"], "series": {"Content removed": [1]}}
    assert {b["label"]: b["n"] for b in data["first_response"]["buckets"] if b["n"]} == {"1–3 days": 1}
