"""Interop: pulling from medallion 3.0.0, a TAXII server nobody here wrote, as an unsigned source."""
import uuid

from node.home import Node
from node.wellknown import TLP_MARKINGS

from conftest import set_feed
from sync_fixtures import medallion, taxii_post


def third_party_indicators(count):
    return [{"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
             "created": "2026-10-01T10:00:00.000Z", "modified": "2026-10-01T10:00:00.000Z",
             "name": f"bad domain {i}", "pattern": f"[domain-name:value = 'bad{i}.example']",
             "pattern_type": "stix", "valid_from": "2026-10-01T10:00:00Z",
             "object_marking_refs": [TLP_MARKINGS["green"]]} for i in range(count)]


def test_a_medallion_feed_is_pulled_page_by_page_and_stored_as_external_never_relayed(make_home, qalqan, tmp_path):
    uz = make_home("uz", "UZ")
    set_feed(uz, "regional", writers=["med"], readers=["med"])
    first, second = third_party_indicators(150), third_party_indicators(120)
    with medallion(tmp_path / "medallion", "uz", "s3cret") as med:
        taxii_post(med["objects_url"], first, auth=med["auth"])
        taxii_post(med["objects_url"], second, auth=med["auth"])
        out = qalqan("peer", "add", "med", "--unsigned", "--url", med["discovery"], "--token", "uz:s3cret",
                     "--pull", med["collection"], home=uz)
        assert out.returncode == 0, out.stderr

        out = qalqan("sync", "--once", "--peer", "med", "--page-size", "40", home=uz)
        assert out.returncode == 0, out.stderr
        assert "received 270, accepted 270" in out.stdout

        later = third_party_indicators(5)
        taxii_post(med["objects_url"], later, auth=med["auth"])
        out = qalqan("sync", "--once", home=uz)
        assert out.returncode == 0, out.stderr
        assert "accepted 5," in out.stdout

    node = Node(uz)
    rows = node.store.query("SELECT id, origin, source FROM objects WHERE type = 'indicator'")
    assert {r["id"] for r in rows} == {o["id"] for o in first + second + later}
    assert {(r["origin"], r["source"]) for r in rows} == {("external", "med")}
    relayed = node.store.one("SELECT COUNT(*) AS n FROM feed_entries WHERE type = 'indicator'")
    assert relayed["n"] == 0


def test_a_wrong_password_at_medallion_is_reported_as_that_peer_failing(make_home, qalqan, tmp_path):
    uz = make_home("uz", "UZ")
    with medallion(tmp_path / "medallion", "uz", "s3cret") as med:
        qalqan("peer", "add", "med", "--unsigned", "--url", med["discovery"], "--token", "uz:wrong",
               "--pull", med["collection"], home=uz)
        out = qalqan("sync", "--once", home=uz)
    assert out.returncode == 1
    assert "peer med failed: HTTP 401" in out.stderr
    status = qalqan("status", home=uz)
    assert "peer med: last sync never" in status.stdout and "HTTP 401" in status.stdout
