"""A peer's last error is shown (by `status` and the admin peers page) only while it is
newer than the peer's last success; every failure stays in the audit log."""
from __future__ import annotations

import json

from node.cli import main
from node.sync import health

RECOVERED = "cannot connect (http://127.0.0.1:8002/taxii2/)"


def status_of(home, capsys, *args) -> str:
    assert main(["--home", str(home), "status", *args]) == 0
    return capsys.readouterr().out


def test_an_error_followed_by_a_success_is_history_in_status_and_on_the_peers_page(admin, node, uz, capsys):
    node.add_peer("uz", uz.card(), "http://127.0.0.1:8002/taxii2/")
    health.failed(node.store, "uz", RECOVERED)
    assert f"last error: {RECOVERED}" in status_of(node.home, capsys)
    assert RECOVERED in admin.get("/admin/peers").text
    health.succeeded(node.store, "uz")
    assert "last error" not in status_of(node.home, capsys)
    assert json.loads(status_of(node.home, capsys, "--json"))["peers"][0]["last_error"] is None
    assert RECOVERED not in admin.get("/admin/peers").text
    history = node.store.query("SELECT source, reason FROM audit WHERE event = 'sync-failed'")
    assert history == [{"source": "uz", "reason": RECOVERED}]


def test_an_error_after_the_last_success_is_shown(admin, node, uz, capsys):
    node.add_peer("uz", uz.card(), "http://127.0.0.1:8002/taxii2/")
    health.succeeded(node.store, "uz")
    health.failed(node.store, "uz", "HTTP 401 from http://127.0.0.1:8002/taxii2/")
    assert "last error: HTTP 401 from" in status_of(node.home, capsys)
    assert "HTTP 401 from" in admin.get("/admin/peers").text
