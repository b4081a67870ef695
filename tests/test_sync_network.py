"""Three real nodes on loopback (KZ, UZ, AZ), each a `qalqan serve` process.

KZ↔UZ share the bilateral (amber) and regional (green) feeds, UZ↔AZ the regional one.
AZ is no direct peer of KZ: it learns KZ's incidents only through UZ's relay.
"""
import json

import pytest
from taxii2client.common import TokenAuth
from taxii2client.v21 import Collection

from node.home import Node
from node.ingest import OWN, Door
from node.signing import canonical, signature_of

from conftest import incident_record
from sync_fixtures import Network, edit_yaml, held, publish_notes, quarantined_ids, run, signed_notes, stored_json, \
    taxii_post, wait_until


@pytest.fixture
def net(tmp_path):
    net = Network(tmp_path, {"kz": "KZ", "uz": "UZ", "az": "AZ"})
    net.link("kz", "uz", ["bilateral", "regional"])
    net.link("uz", "az", ["regional"])
    net.start()
    yield net
    net.stop()


def sync_all(net, *names):
    for name in names:
        out = net[name].sync()
        assert out.returncode == 0, out.stderr


def report_objects(home, report_id):
    report = json.loads(stored_json(home, report_id))
    return [report_id, *report["object_refs"]]


def test_green_relays_kz_to_uz_to_az_byte_for_byte_and_az_verifies_kzs_signature(net, tmp_path):
    net.pin("az", "kz")
    report, incident = net["kz"].add_incident(tmp_path, **incident_record(tlp="green"))
    sync_all(net, "uz", "az")

    kz_home, uz_home, az_home = net["kz"].home, net["uz"].home, net["az"].home
    shared = [ref for ref in report_objects(kz_home, report) if not ref.startswith("attack-pattern--")]
    for ref in shared:
        assert stored_json(uz_home, ref) == stored_json(kz_home, ref), ref
        assert stored_json(az_home, ref) == stored_json(kz_home, ref), ref
    obj = json.loads(stored_json(az_home, incident))
    az = Node(az_home)
    assert signature_of(obj)["signer"] == net["kz"].node().config.identity
    assert az.trust.verify(obj, canonical(obj)) == net["kz"].node().signing_key.key_id
    relayed_by_uz = az.store.one("SELECT origin, source FROM objects WHERE id = ?", [incident])
    assert relayed_by_uz == {"origin": "peer", "source": "uz"}


def test_an_unknown_signer_is_quarantined_at_az_then_released_by_trust_add(net, tmp_path):
    _, incident = net["kz"].add_incident(tmp_path, **incident_record(tlp="green"))
    sync_all(net, "uz", "az")
    az_home = net["az"].home
    assert incident in quarantined_ids(az_home)
    assert stored_json(az_home, incident) is None

    out = net.pin("az", "kz")
    assert "quarantine re-verified" in out.stdout
    assert stored_json(az_home, incident) == stored_json(net["kz"].home, incident)
    assert incident not in quarantined_ids(az_home)
    regional = net["az"].feed_id("regional")
    assert regional in Node(az_home).store.feeds_of(incident)


def test_amber_reaches_uz_only_and_red_and_amber_strict_stay_at_kz(net, tmp_path):
    net.pin("az", "kz")
    kz = net["kz"]
    _, amber = kz.add_incident(tmp_path, **incident_record(tlp="amber", title="Amber"))
    _, red = kz.add_incident(tmp_path, **incident_record(tlp="red", title="Red"))
    _, strict = kz.add_incident(tmp_path, **incident_record(tlp="amber+strict", title="Strict"))
    sync_all(net, "uz", "az", "uz", "az")

    uz_home, az_home = net["uz"].home, net["az"].home
    assert stored_json(uz_home, amber) == stored_json(kz.home, amber)
    assert stored_json(az_home, amber) is None
    for kept in (red, strict):
        assert stored_json(kz.home, kept) is not None
        assert stored_json(uz_home, kept) is None and stored_json(az_home, kept) is None
    # amber from a peer goes back to its author only: UZ's bilateral feed, which KZ alone reads
    assert Node(uz_home).store.feeds_of(amber) == [net["uz"].feed_id("bilateral")]


def test_uz_reads_back_the_amber_it_posted_to_kzs_bilateral_feed_with_taxii2_client(net):
    kz, uz = net["kz"], net["uz"]
    token = kz.node().create_token("uz", keep_old=True)
    collection = Collection(f"{kz.discovery}api/collections/{kz.feed_id('bilateral')}/", auth=TokenAuth(token))
    [amber] = signed_notes(uz.node(), 1, tlp="amber")
    status = collection.add_objects({"objects": [amber]})
    assert status.success_count == 1
    got = collection.get_object(amber["id"])
    assert [o["id"] for o in got["objects"]] == [amber["id"]]


def test_amber_from_uz_never_reaches_a_third_reader_of_kzs_feeds(net):
    kz, uz = net["kz"], net["uz"]
    # a regional feed that could carry amber, read by uz and az, written by uz
    edit_yaml(kz.home / "feeds" / "regional.yaml",
              lambda data: data.update(max_tlp="amber", readers=["az", "uz"], writers=["uz"]))
    token = kz.node().create_token("uz", keep_old=True)
    [amber] = signed_notes(uz.node(), 1, tlp="amber")
    status = taxii_post(f"{kz.discovery}api/collections/{kz.feed_id('regional')}/objects/", [amber], token=token)
    assert status["success_count"] == 1
    assert stored_json(kz.home, amber["id"]) is not None
    assert Node(kz.home).store.feeds_of(amber["id"]) == [kz.feed_id("bilateral")]


def test_a_tampered_object_posted_to_uz_is_rejected_and_never_reaches_az(net):
    net.pin("az", "kz")
    good_before, tampered, good_after = signed_notes(net["kz"].node(), 3)
    tampered["content"] = "changed after signing"
    token = net["uz"].node().create_token("kz", keep_old=True)  # kz keeps the token it syncs with
    url = f"{net['uz'].discovery}api/collections/{net['uz'].feed_id('regional')}/objects/"
    status = taxii_post(url, [good_before, tampered, good_after], token=token)
    assert status["success_count"] == 2 and status["failure_count"] == 1
    assert status["failures"][0]["id"] == tampered["id"]

    sync_all(net, "az")
    counts = held(net["az"].home, [good_before["id"], tampered["id"], good_after["id"]])
    assert counts == {good_before["id"]: 1, tampered["id"]: 0, good_after["id"]: 1}
    audit = Node(net["uz"].home).store.query("SELECT event, source FROM audit WHERE object_id = ?", [tampered["id"]])
    assert audit == [{"event": "rejected", "source": "kz"}]


def test_an_incident_added_at_kz_is_pushed_to_uz_without_uz_pulling(net, tmp_path):
    kz = net["kz"]
    kz.stop()
    kz.start(sync=True)  # KZ's background loop pushes; UZ runs with --no-sync and never pulls
    report, incident = kz.add_incident(tmp_path, **incident_record(tlp="green", title="Pushed"))
    wait_until(lambda: stored_json(net["uz"].home, incident), timeout=60, what="the incident to reach UZ")
    assert stored_json(net["uz"].home, incident) == stored_json(kz.home, incident)
    status = run("status", "--home", kz.home)
    assert "peer uz: last sync" in status.stdout


def test_sync_reports_per_peer_counts_and_status_shows_them(net):
    publish_notes(net["kz"].home, 30)
    out = net["uz"].sync()
    assert out.returncode == 0, out.stderr
    kz_line = next(line for line in out.stdout.splitlines() if line.startswith("peer kz:"))
    assert "accepted 30," in kz_line and "quarantined 0, rejected 0" in kz_line
    assert any(line.startswith("peer az:") for line in out.stdout.splitlines())
    status = run("status", "--home", net["uz"].home).stdout
    assert "peer kz: last sync 20" in status and "accepted 30" in status


def test_every_version_of_an_object_reaches_the_partner_not_only_the_latest(net):
    kz = net["kz"].node()
    oid = "note--5b0c6a4e-2f1d-4c36-9d0e-8f5a1e2b3c4d"
    versions = [signed_notes(kz, 1, modified=stamp, ids=[oid], content=f"version {n}")[0]
                for n, stamp in enumerate(["2026-11-02T00:00:00.000Z", "2026-11-03T00:00:00.000Z"])]
    summary = kz.ingest.run(versions, Door(OWN))
    assert summary.counts["accepted"] == 2
    sync_all(net, "uz")
    assert held(net["uz"].home, [oid]) == {oid: 2}
