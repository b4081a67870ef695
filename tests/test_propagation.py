"""Relayed objects pushed onward, with real `qalqan serve` processes on loopback.

KZ–UZ share the bilateral (amber) and regional (green) feeds, UZ–AZ and AZ–TR the
regional one: AZ is two hops from KZ, TR three. Every node pulls only once an hour
(`sync.interval` 3600, after its first pull at start), so whatever arrives later was
pushed. The receivers' TAXII status resources (one per POST they answered) show who
posted what, so loops and duplicates are counted where they would land.
"""
import json
import signal
import sqlite3
import time

import pytest

from conftest import incident_record
from sync_fixtures import Network, edit_yaml, publish_notes, set_setting, stored_json, wait_until

HOUR = 3600
ALL = ("kz", "uz", "az", "tr")


def connect(member) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{member.home / 'data' / 'qalqan.db'}?mode=ro", uri=True, timeout=30)


def rows(member, sql: str, params=()) -> list[tuple]:
    db = connect(member)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def posts_of(member, object_id: str) -> list[tuple[str, str]]:
    """(poster, answer) for each POST `member` answered that carried `object_id`."""
    found = []
    for owner, text in rows(member, "SELECT owner, json FROM statuses ORDER BY created"):
        resource = json.loads(text)
        for detail in resource.get("successes", []) + resource.get("failures", []):
            if detail["id"] == object_id:
                found.append((owner, detail.get("message", "accepted")))
    return found


def push_cursor(member, peer: str) -> int:
    found = rows(member, "SELECT seq FROM push_cursors WHERE peer = ?", [peer])
    return found[0][0] if found else 0


def last_entry(member, object_id: str) -> int:
    return rows(member, "SELECT COALESCE(MAX(seq), 0) FROM feed_entries WHERE id = ?", [object_id])[0][0]


def versions_held(member, object_id: str) -> int:
    return rows(member, "SELECT COUNT(*) FROM objects WHERE id = ?", [object_id])[0][0]


def first_pulls_done(member, peers) -> bool:
    log = (member.home / "serve.log").read_text("utf-8", errors="replace")
    return all(f"sync {peer}: received" in log for peer in peers)


@pytest.fixture
def chain(tmp_path):
    net = Network(tmp_path, {name: name.upper() for name in ALL})
    net.link("kz", "uz", ["bilateral", "regional"])
    net.link("uz", "az", ["regional"])
    net.link("az", "tr", ["regional"])
    for far in ("az", "tr"):
        net.pin(far, "kz")
    for name in ALL:
        set_setting(net[name].home, "sync.interval", HOUR)
    yield net
    net.stop()


def start_and_settle(net) -> None:
    """Start every node with its background sync and wait for the first pulls to end:
    the next ones are an hour away."""
    net.start(sync=True)
    for name in ALL:
        peers = list(net[name].node().config.peers)
        wait_until(lambda: first_pulls_done(net[name], peers), timeout=60, what=f"{name}'s first pulls")


def test_a_green_incident_reaches_nodes_two_and_three_hops_away_by_push_within_seconds(chain, tmp_path):
    net = chain
    start_and_settle(net)
    kz = net["kz"]
    _, amber = kz.add_incident(tmp_path, **incident_record(tlp="amber", title="Bilateral lead"))
    _, red = kz.add_incident(tmp_path, **incident_record(tlp="red", title="Internal note"))
    began = time.monotonic()
    report, green = kz.add_incident(tmp_path, **incident_record(tlp="green", title="Doctored border video"))
    wait_until(lambda: stored_json(net["tr"].home, green), timeout=30, every=0.1, what="the incident to reach TR")
    assert time.monotonic() - began < 30  # an hour's pull interval cannot explain it

    # Each hop brought it by a POST from the node before it, byte for byte as KZ signed it.
    shared = [r for r in [report, *json.loads(stored_json(kz.home, report))["object_refs"]]
              if not r.startswith("attack-pattern--")]
    for name, before in (("uz", "kz"), ("az", "uz"), ("tr", "az")):
        assert rows(net[name], "SELECT origin, source FROM objects WHERE id = ?", [green]) == [("peer", before)]
        for ref in shared:
            assert stored_json(net[name].home, ref) == stored_json(kz.home, ref), (name, ref)

    # Once every pusher has walked past the incident, count who posted it where.
    for name, peer in (("uz", "kz"), ("uz", "az"), ("az", "uz"), ("az", "tr"), ("tr", "az")):
        wait_until(lambda: push_cursor(net[name], peer) >= last_entry(net[name], green), timeout=30,
                   what=f"{name}'s push to {peer} to pass the incident")
    assert posts_of(kz, green) == []  # never pushed back to its creator
    assert {poster for poster, _ in posts_of(net["uz"], green)} == {"kz"}  # nor back to UZ by AZ
    assert posts_of(net["az"], green) == [("uz", "accepted")]  # exactly once, no duplicate
    assert posts_of(net["tr"], green) == [("az", "accepted")]
    assert all(versions_held(net[name], green) == 1 for name in ALL)

    # Amber went to UZ (its bilateral feed) and no further; red never left KZ. Both were
    # added before the green one, which the pushers passed in feed order.
    assert stored_json(net["uz"].home, amber) == stored_json(kz.home, amber)
    for name in ("az", "tr"):
        assert versions_held(net[name], amber) == 0, name
    assert push_cursor(net["uz"], "az") >= last_entry(net["uz"], amber)
    assert posts_of(kz, amber) == []
    assert all(versions_held(net[name], red) == 0 for name in ("uz", "az", "tr"))


MANY = 3000
BATCH = 500  # node/sync/push.py


def notes_at(member) -> int:
    try:
        return rows(member, "SELECT COUNT(*) FROM objects WHERE type = 'note'")[0][0]
    except sqlite3.OperationalError:  # locked for a moment by the writer
        return 0


def test_a_relay_killed_mid_push_then_restarted_delivers_each_object_once(tmp_path):
    net = Network(tmp_path, {"kz": "KZ", "uz": "UZ", "az": "AZ"})
    net.link("kz", "uz", ["regional"])
    net.link("uz", "az", ["regional"])
    net.pin("az", "kz")
    uz, az = net["uz"], net["az"]
    try:
        ids = publish_notes(net["kz"].home, MANY)
        net["kz"].start()
        out = uz.sync("--peer", "kz")  # UZ holds KZ's notes, relayable to AZ
        assert out.returncode == 0, out.stderr
        # From here UZ only pushes: whatever AZ holds, UZ's pusher posted.
        edit_yaml(uz.home / "config.yaml", lambda data: [p.update(pull=[]) for p in data["peers"].values()])
        az.start()
        uz.start(sync=True)
        wait_until(lambda: notes_at(az) > 0, every=0.002, what="AZ to store UZ's first pushed batch")
        uz.proc.send_signal(signal.SIGKILL)
        uz.proc.wait(15)
        uz.stop()
        assert 0 < notes_at(az) < MANY

        uz.start(sync=True)
        wait_until(lambda: notes_at(az) == MANY, timeout=120, what="AZ to hold every note")
        assert rows(az, "SELECT COUNT(*) FROM objects WHERE type = 'note' GROUP BY id HAVING COUNT(*) > 1") == []
        held = {r[0] for r in rows(az, "SELECT id FROM objects WHERE type = 'note'")}
        assert held == set(ids)
        answers = [a for text, in rows(az, "SELECT json FROM statuses WHERE owner = 'uz'")
                   for a in json.loads(text).get("successes", []) if a["id"].startswith("note--")]
        duplicates = sum(1 for a in answers if a.get("message") == "already held: duplicate")
        assert len(answers) - duplicates == MANY
        assert duplicates <= BATCH  # at most the batch posted before the kill and not yet recorded
    finally:
        net.stop()
