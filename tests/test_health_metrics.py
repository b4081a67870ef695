"""/healthz for load balancers and supervisors, /metrics for Prometheus: what they
answer, who may read the metrics, and that the numbers follow the node's state."""
from __future__ import annotations

import dataclasses
import os

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from node.app import create_app
from node.home import Node
from node.users import add_user
from nodes import TAXII, introduce, make_home, serving
from sync_fixtures import wait_until
from web_fixtures import ADMIN, ANALYST, incident_record, log_in


@pytest.fixture
def app(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    introduce(home, make_home(tmp_path, "uz", "UZ"))
    node = Node(home)
    add_user(node.store, ADMIN[0], "admin", ADMIN[1])
    add_user(node.store, ANALYST[0], "analyst", ANALYST[1])
    return create_app(home)


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def objects_held(metrics: dict, origin: str, tlp: str) -> float:
    return metrics.get(("qalqan_objects", (("origin", origin), ("tlp", tlp))), 0)


def test_healthz_answers_ok_without_credentials(app):
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 200
    assert answer.json == {"status": "ok", "database": "ok", "config": {"status": "ok"}}


@pytest.mark.parametrize("damage", ["removed", "not a database"])
def test_healthz_answers_503_with_a_reason_when_the_database_is_unusable(app, damage):
    path = app.extensions["qalqan_node"].config.database_path
    for suffix in ("", "-wal", "-shm"):  # the WAL left behind could still hold a valid first page
        if os.path.exists(f"{path}{suffix}"):
            os.replace(f"{path}{suffix}", f"{path}{suffix}.moved")
    if damage == "not a database":
        open(path, "wb").write(b"this is no SQLite file" * 100)
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 503 and answer.json["status"] == "unavailable"
    assert answer.json["reason"].startswith("database: ")
    expected = ("unable to open",) if damage == "removed" else ("not a database", "malformed")
    assert any(words in answer.json["reason"] for words in expected), answer.json


def test_metrics_parse_and_the_objects_gauge_moves_when_an_incident_arrives(app):
    client = app.test_client()
    before = samples(client.get("/metrics").text)
    assert before[("qalqan_quarantine_objects", ())] == 0
    assert before[("qalqan_feed_objects", (("feed", "regional"),))] > 0
    assert before[("qalqan_peer_lag_seconds", (("peer", "uz"),))] == float("inf")  # never synced
    assert before[("qalqan_peer_errors_total", (("peer", "uz"),))] == 0

    app.extensions["qalqan_node"].add_incident(incident_record(tlp="green", disarm=[]))
    after = samples(client.get("/metrics").text)
    assert objects_held(after, "own", "green") > objects_held(before, "own", "green") == 0
    assert after[("qalqan_feed_objects", (("feed", "regional"),))] > before[("qalqan_feed_objects",
                                                                              (("feed", "regional"),))]


def test_metrics_are_refused_to_a_remote_caller_unless_an_admin_is_logged_in(app):
    def remote_client():
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = "192.0.2.7"
        return client

    assert remote_client().get("/metrics").status_code == 403
    analyst = remote_client()
    assert log_in(analyst, *ANALYST).status_code == 302
    assert analyst.get("/metrics").status_code == 403
    admin = remote_client()
    assert log_in(admin, *ADMIN).status_code == 302
    answer = admin.get("/metrics")
    assert answer.status_code == 200 and ("qalqan_quarantine_objects", ()) in samples(answer.text)


def test_requests_through_serve_are_counted_by_route_and_status(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    with serving(home) as (base, _):
        for _ in range(3):
            assert requests.get(base + "/taxii2/", headers={"Accept": TAXII}, timeout=30).status_code == 200
        assert requests.get(base + "/taxii2/api/collections/no-such-feed/objects/", headers={"Accept": TAXII},
                            timeout=30).status_code == 401  # anonymous, not public
        ok = (("method", "GET"), ("route", "/taxii2/"), ("status", "200"))
        refused = (("method", "GET"), ("route", "/taxii2/api/collections/<collection_id>/objects/"), ("status", "401"))

        def settled():
            # A request is counted once its answer has gone out, so the last one may still
            # be between its two observations when /metrics is read: read again until equal.
            found = samples(requests.get(base + "/metrics", timeout=30).text)
            same = found[("qalqan_http_request_duration_seconds_count", ok)] == found[("qalqan_http_requests_total", ok)]
            return found if same and ("qalqan_http_requests_total", refused) in found else None
        metrics = wait_until(settled, timeout=10, what="request count and latency count to agree")
    assert metrics[("qalqan_http_requests_total", ok)] >= 3  # and the readiness probe's
    assert metrics[("qalqan_http_requests_total", refused)] == 1


def test_a_failed_sync_counts_as_a_peer_error_and_a_success_sets_the_lag(app):
    from node.sync import health
    from node.sync.rounds import sync_peer
    node = app.extensions["qalqan_node"]
    client = app.test_client()
    peer = dataclasses.replace(node.config.peers["uz"], pull=["bilateral"])
    assert sync_peer(node, peer).error.startswith("cannot connect")  # uz listens nowhere
    metrics = samples(client.get("/metrics").text)
    assert metrics[("qalqan_peer_errors_total", (("peer", "uz"),))] == 1
    health.succeeded(node.store, "uz")
    metrics = samples(client.get("/metrics").text)
    assert 0 <= metrics[("qalqan_peer_lag_seconds", (("peer", "uz"),))] < 60
    assert metrics[("qalqan_peer_last_success_timestamp_seconds", (("peer", "uz"),))] > 1.7e9
