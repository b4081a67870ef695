"""Admin pages: peers and their sync state, the quarantine and deleting from it."""
import io
import re

import pytest

from web_fixtures import csrf_from, incident_record


def test_the_peers_page_shows_each_peers_last_sync_error_and_counts(admin, node, uz):
    node.add_peer("uz", uz.card(), "http://127.0.0.1:8002/taxii2/", pull=["regional"])
    with node.store.transaction() as db:
        db["peers"].insert({"name": "uz", "last_attempt": 1_790_000_000_000_000, "last_success": 1_789_000_000_000_000,
                            "last_error": "connection refused", "last_error_at": 1_790_000_000_000_000,
                            "received": 12, "accepted": 9, "duplicates": 2, "quarantined": 1, "rejected": 0})
    html = admin.get("/admin/peers").text
    assert "http://127.0.0.1:8002/taxii2/" in html and "pull: regional" in html
    assert "connection refused" in html
    assert re.search(r"<td>12</td><td>9</td><td>2</td><td>1</td><td>0</td>", html)
    # times in the reader's locale (English here: CLDR puts a narrow space before PM), ISO for machines
    assert re.search(r'<td><time datetime="2026-09-21T14:13:20Z">Sep 21, 2026, 2:13:20\sPM UTC</time></td>', html)
    assert re.search(r'<td><time datetime="2026-09-10T00:26:40Z">Sep 10, 2026, 12:26:40\sAM UTC</time></td>', html)
    assert "uz" in html and uz.config.identity in html  # its pinned card


def test_a_peer_never_synced_shows_never(admin, node, uz):
    node.add_peer("uz", uz.card(), "http://127.0.0.1:8002/taxii2/")
    assert "never" in admin.get("/admin/peers").text


def test_a_node_without_peers_says_how_to_add_one(admin):
    assert "qalqan peer add" in admin.get("/admin/peers").text


@pytest.fixture
def quarantined(node, uz):
    uz.add_incident(incident_record(title="From an unpinned node"))
    out = io.StringIO()
    uz.export(out)
    node.import_stream(io.BytesIO(out.getvalue().encode()))
    return node.store.query("SELECT id, version, digest FROM quarantine ORDER BY id")


def test_the_quarantine_lists_objects_with_their_reason(admin, quarantined, uz):
    html = admin.get("/admin/quarantine").text
    assert f"{len(quarantined)} held" in html
    assert "unknown signer key" in html and uz.config.identity in html
    assert "claims to be uz (UZ)" in html


def test_an_admin_deletes_a_quarantined_object(admin, node, quarantined):
    target = quarantined[0]
    page = admin.get("/admin/quarantine").text
    response = admin.post("/admin/quarantine/delete", data={"csrf_token": csrf_from(page), **target})
    assert response.status_code == 302
    assert node.store.one("SELECT 1 AS x FROM quarantine WHERE id = ?", [target["id"]]) is None
    audit = node.store.one("SELECT reason FROM audit WHERE event = 'quarantine-deleted' AND object_id = ?",
                           [target["id"]])
    assert audit["reason"] == "deleted by admin root"
    assert "Deleted" in admin.get("/admin/quarantine").text


def test_deleting_without_a_csrf_token_is_refused(admin, node, quarantined):
    response = admin.post("/admin/quarantine/delete", data=quarantined[0])
    assert response.status_code == 400
    assert node.store.one("SELECT COUNT(*) AS n FROM quarantine")["n"] == len(quarantined)


def test_an_analyst_may_not_delete_from_the_quarantine(analyst, node, quarantined):
    page = analyst.get("/incidents").text
    response = analyst.post("/admin/quarantine/delete", data={"csrf_token": csrf_from(page), **quarantined[0]})
    assert response.status_code == 403
    assert node.store.one("SELECT COUNT(*) AS n FROM quarantine")["n"] == len(quarantined)


def test_quarantined_objects_are_released_when_their_signer_is_trusted(admin, node, uz, quarantined):
    node.trust_card(uz.card())
    assert "The quarantine is empty." in admin.get("/admin/quarantine").text
    assert "From an unpinned node" in admin.get("/incidents").text


def test_re_checking_the_quarantine_releases_what_is_trusted_now(admin, node, uz, quarantined):
    node.trust.pin(uz.card())  # pinned by another process: nothing released yet
    page = admin.get("/admin/quarantine").text
    response = admin.post("/admin/quarantine/recheck", data={"csrf_token": csrf_from(page)}, follow_redirects=True)
    assert "accepted" in response.text
    assert node.store.one("SELECT COUNT(*) AS n FROM quarantine")["n"] == 0
