"""Sync under faults: a sync killed mid-way, a peer that dies mid-sync, a partition, a hung peer."""
import signal
import socket
import sqlite3
import subprocess
import uuid

import pytest

from node.home import Node

from conftest import incident_record
from sync_fixtures import REPO, Network, edit_yaml, held, peer_row, publish_notes, qalqan_cmd, set_setting, \
    stored_json, wait_until

MANY = 2000


@pytest.fixture
def pair(tmp_path):
    """KZ serving, UZ its bilateral and regional partner (UZ's server is not needed to pull)."""
    net = Network(tmp_path, {"kz": "KZ", "uz": "UZ"})
    net.link("kz", "uz", ["bilateral", "regional"])
    net["kz"].start()
    yield net
    net.stop()


@pytest.fixture
def hung_peer():
    """A TCP port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/taxii2/"


def first_page_committed(home, peer):
    db = sqlite3.connect(home / "data" / "qalqan.db", timeout=30)
    try:
        return db.execute("SELECT COUNT(*) FROM cursors WHERE peer = ?", [peer]).fetchone()[0] > 0
    finally:
        db.close()


def start_sync(home, *args):
    return subprocess.Popen(qalqan_cmd("sync", "--home", home, "--once", *args), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def exactly_once(home, ids):
    counts = held(home, ids)
    return sorted(set(counts.values())) == [1]


def sync_past_its_first_page(kz, uz):
    """KZ publishes MANY notes; UZ starts pulling them in small pages. Returns the ids
    and the running sync once it has committed its first page (or ended)."""
    ids = publish_notes(kz.home, MANY)
    proc = start_sync(uz.home, "--peer", "kz", "--page-size", "25")
    wait_until(lambda: first_page_committed(uz.home, "kz") or proc.poll() is not None, every=0.002,
               what="UZ to commit a first page")
    return ids, proc


def test_a_sync_killed_mid_way_then_rerun_stores_each_of_2000_objects_exactly_once(pair):
    kz, uz = pair["kz"], pair["uz"]
    ids, proc = sync_past_its_first_page(kz, uz)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert 0 < sum(held(uz.home, ids).values()) < MANY

    out = uz.sync("--peer", "kz", "--page-size", "25")
    assert out.returncode == 0, out.stderr
    assert exactly_once(uz.home, ids)
    assert peer_row(uz.home, "kz")["accepted"] == MANY  # pages and counts commit together: none counted twice
    regional = uz.feed_id("regional")
    entries = Node(uz.home).store.one("SELECT COUNT(*) AS n FROM feed_entries WHERE feed = ? AND type = 'note'",
                                      [regional])
    assert entries["n"] == MANY


def test_a_peer_stopped_mid_sync_fails_that_sync_and_the_next_one_completes_after_its_restart(pair):
    kz, uz = pair["kz"], pair["uz"]
    ids, proc = sync_past_its_first_page(kz, uz)
    kz.stop(kill=True)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "peer kz failed" in stderr
    assert peer_row(uz.home, "kz")["last_error"]
    assert sum(held(uz.home, ids).values()) < MANY

    kz.start()
    out = uz.sync("--peer", "kz")
    assert out.returncode == 0, out.stderr
    assert exactly_once(uz.home, ids)
    row = peer_row(uz.home, "kz")
    assert row["last_success"] > row["last_error_at"]


def test_after_a_partition_of_uz_heals_all_three_nodes_converge_to_what_policy_allows(tmp_path):
    net = Network(tmp_path, {"kz": "KZ", "uz": "UZ", "az": "AZ"})
    net.link("kz", "uz", ["bilateral", "regional"])
    net.link("uz", "az", ["regional"])
    net.pin("az", "kz")
    net.pin("kz", "az")
    net["kz"].start()
    net["az"].start()
    try:
        made = {
            "kz green": publish_notes(net["kz"].home, 3, "green", "kz green"),
            "kz amber": publish_notes(net["kz"].home, 2, "amber", "kz amber"),
            "kz red": publish_notes(net["kz"].home, 1, "red", "kz red"),
            "uz green": publish_notes(net["uz"].home, 3, "green", "uz green"),
            "uz amber": publish_notes(net["uz"].home, 2, "amber", "uz amber"),
            "az green": publish_notes(net["az"].home, 3, "green", "az green"),
        }
        for name in ("kz", "az"):
            out = net[name].sync()
            assert out.returncode == 1 and "peer uz failed" in out.stderr

        net["uz"].start()
        for name in ("uz", "kz", "az"):
            out = net[name].sync()
            assert out.returncode == 0, out.stderr

        everything = {key for key in made if key != "kz red"}
        expected = {
            "kz": everything | {"kz red"},
            "uz": everything,
            "az": {"kz green", "uz green", "az green"},
        }
        for name, keys in expected.items():
            for key, ids in made.items():
                counts = set(held(net[name].home, ids).values())
                assert counts == ({1} if key in keys else {0}), (name, key, counts)
    finally:
        net.stop()


def test_a_hung_peer_times_out_without_holding_up_the_other_peers(pair, hung_peer):
    kz, uz = pair["kz"], pair["uz"]
    uz_node = Node(uz.home)
    uz_node.add_peer("tm", {}, hung_peer, token="x", pull=[str(uuid.uuid4())], signed=False)
    set_setting(uz.home, "sync.timeout", 1)
    ids = publish_notes(kz.home, 20)
    out = uz.sync()
    assert out.returncode == 1
    assert "peer tm failed: no answer within the timeout" in out.stderr
    kz_line = next(line for line in out.stdout.splitlines() if line.startswith("peer kz:"))
    assert "accepted 20," in kz_line and "FAILED" not in kz_line and "peer kz failed" not in out.stderr
    assert exactly_once(uz.home, ids)


def test_pushes_keep_flowing_to_a_live_peer_while_another_peer_hangs(pair, hung_peer, tmp_path):
    kz, uz = pair["kz"], pair["uz"]
    Node(kz.home).add_peer("tm", {}, hung_peer, token="x", push=[str(uuid.uuid4())], signed=False)
    set_setting(kz.home, "sync.timeout", 1)
    kz.stop()
    kz.start(sync=True)
    uz.start()  # UZ receives the pushes; it never pulls (--no-sync)
    _, incident = kz.add_incident(tmp_path, **incident_record(tlp="green"))
    wait_until(lambda: stored_json(uz.home, incident), timeout=60, what="the push to reach UZ")
    wait_until(lambda: peer_row(kz.home, "tm").get("last_error"), timeout=60, what="the hung peer's error")


def test_a_feed_the_peer_does_not_offer_fails_the_sync_but_the_other_feeds_still_arrive(pair):
    kz, uz = pair["kz"], pair["uz"]
    missing = str(uuid.uuid4())
    edit_yaml(uz.home / "config.yaml", lambda data: data["peers"]["kz"]["pull"].insert(0, missing))
    ids = publish_notes(kz.home, 10)
    out = uz.sync("--peer", "kz")
    assert out.returncode == 1
    assert f"peer kz failed: peer kz offers no collection '{missing}' to this node" in out.stderr
    assert exactly_once(uz.home, ids)
