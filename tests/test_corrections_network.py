"""A correction and a withdrawal at KZ reach UZ and AZ (two hops, by UZ's relay) as signed
versions, and both show them: three real `qalqan serve` nodes on loopback (issue 12, point 1)."""
import json

import pytest
import yaml

from node.app import create_app
from node.users import add_user
from conftest import incident_record
from sync_fixtures import Network, run, stored_json
from web_fixtures import log_in


@pytest.fixture
def net(tmp_path):
    net = Network(tmp_path, {"kz": "KZ", "uz": "UZ", "az": "AZ"})
    net.link("kz", "uz", ["bilateral", "regional"])
    net.link("uz", "az", ["regional"])
    net.pin("az", "kz")
    net.start()
    yield net
    net.stop()


def sync_all(net, *names):
    for name in names:
        out = net[name].sync()
        assert out.returncode == 0, out.stderr


def analyst_of(home):
    app = create_app(home)
    add_user(app.extensions["qalqan_node"].store, "ana", "analyst", "a long enough password")
    client = app.test_client()
    assert log_in(client, "ana", "a long enough password").status_code == 302
    return client


def test_a_correction_and_a_withdrawal_at_kz_reach_uz_and_az_and_show_there(net, tmp_path):
    _report, incident = net["kz"].add_incident(tmp_path, **incident_record(tlp="green"))
    sync_all(net, "uz", "az")
    assert stored_json(net["az"].home, incident) is not None

    shown = run("incident", "show", incident, "--home", net["kz"].home)
    record = yaml.safe_load(shown.stdout)
    record.update(title="Border video: a correction", verdict="manipulated")
    path = tmp_path / "edit.yaml"
    path.write_text(yaml.safe_dump(record, allow_unicode=True), "utf-8")
    assert run("incident", "edit", incident, path, "--home", net["kz"].home).returncode == 0
    sync_all(net, "uz", "az")

    analysts = {name: analyst_of(net[name].home) for name in ("uz", "az")}
    for name in ("uz", "az"):
        assert stored_json(net[name].home, incident) == stored_json(net["kz"].home, incident), name
        page = analysts[name].get(f"/incidents/{incident}").text
        assert "Corrected by the source on" in page, name
        history = page.split('id="history"', 1)[1]
        assert "Border video: a correction" in history and "fabricated" in history and "manipulated" in history

    out = run("incident", "withdraw", incident, "--reason", "The video was authentic.", "--home", net["kz"].home)
    assert out.returncode == 0, out.stderr
    sync_all(net, "uz", "az")
    for name in ("uz", "az"):
        assert json.loads(stored_json(net[name].home, incident))["revoked"] is True
        client = analysts[name]
        page = client.get(f"/incidents/{incident}").text
        assert 'id="withdrawn"' in page and "The video was authentic." in page, name
        assert incident not in client.get("/incidents").text, name


def test_a_sighting_at_az_reaches_kz_two_hops_away_and_an_opinion_at_uz_shows_at_kz(net, tmp_path):
    import yaml
    net.pin("kz", "az")
    _report, incident = net["kz"].add_incident(tmp_path, **incident_record(tlp="green"))
    sync_all(net, "uz", "az")
    path = tmp_path / "sighting.yaml"
    path.write_text(yaml.safe_dump({"first_seen": "2026-11-29 07:45", "count": 40, "country": "AZ",
                                    "platform": "telegram", "note": "Spread in Baku channels"}), "utf-8")
    out = run("sighting", "add", incident, path, "--home", net["az"].home)
    assert out.returncode == 0, out.stderr
    out = run("opinion", incident, "disagree", "--text", "Older authentic footage.", "--home", net["uz"].home)
    assert out.returncode == 0, out.stderr
    sync_all(net, "uz", "kz")

    page = analyst_of(net["kz"].home).get(f"/incidents/{incident}").text
    sightings = page.split('id="sightings"', 1)[1].split('id="opinions"', 1)[0]
    assert "AZ <small>(40)</small>" in sightings and "Spread in Baku channels" in sightings
    opinions = page.split('id="opinions"', 1)[1]
    assert "uz (UZ)" in opinions and "disagree" in opinions and "Older authentic footage." in opinions
