"""What a partner's TAXII server may not do to this node's sync: send it, token included,
to another origin through its discovery document; or reach the operator's terminal, log
or admin page with control characters in its error titles."""
from contextlib import contextmanager

import pytest

from node.config import Peer
from node.errors import PeerError
from node.logs import printable
from node.sync.client import PeerClient
from conftest import run_qalqan, set_config
from loopback_http import json_server

TAXII = "application/taxii+json;version=2.1"
HOSTILE_TITLE = "\x1b]0;owned\x07\x1b[2J\x1b[31mred\u009b1m\u202eevil\r\nqalqan: forged line"


@contextmanager
def fake_taxii(answer):
    """A TAXII server on 127.0.0.1: `answer(handler)` gives (status, body); every
    request's path and Authorization header are recorded."""
    seen: list[tuple[str, str | None]] = []

    def recorded(handler):
        seen.append((handler.path, handler.headers.get("Authorization")))
        return answer(handler)

    with json_server(recorded, content_type=TAXII) as url:
        yield url, seen


def api_root_answer(handler):
    return 200, {"title": "root", "versions": [TAXII], "max_content_length": 1000}


@pytest.mark.parametrize("elsewhere", [
    lambda other, port: f"{other}/taxii2/api/",             # another port
    lambda other, port: f"http://localhost:{port}/taxii2/api/",  # another host name, same port
    lambda other, port: f"//127.0.0.2:{port}/taxii2/api/",   # scheme-relative
    lambda other, port: f"https://127.0.0.1:{port}/taxii2/api/",  # another scheme
])
def test_a_discovery_document_naming_an_api_root_elsewhere_is_refused_before_any_request(elsewhere):
    with fake_taxii(api_root_answer) as (other, other_seen):
        def discovery(handler):
            port = handler.server.server_port
            return 200, {"title": "partner", "api_roots": [elsewhere(other, port)], "default": elsewhere(other, port)}
        with fake_taxii(discovery) as (base, seen):
            client = PeerClient(Peer("uz", base + "/taxii2/", token="s3cret-token"), timeout=5)
            with pytest.raises(PeerError, match="names an API root on another origin.*refused"):
                client.collections()
            client.close()
    assert seen == [("/taxii2/", "Token s3cret-token")]  # discovery only, on the peer's origin
    assert other_seen == []


def test_an_api_root_on_the_peers_origin_is_used():
    def answer(handler):
        if handler.path == "/taxii2/":
            return 200, {"title": "partner", "api_roots": ["/taxii2/api/"], "default": "/taxii2/api/"}
        if handler.path == "/taxii2/api/collections/":
            return 200, {"collections": [{"id": "c1", "title": "regional", "can_read": True, "can_write": False,
                                          "media_types": ["application/stix+json;version=2.1"]}]}
        return 200, {"title": "root", "versions": [TAXII], "max_content_length": 1000}
    with fake_taxii(answer) as (base, _seen):
        client = PeerClient(Peer("uz", base + "/taxii2/", token="t"), timeout=5)
        assert [c.id for c in client.collections()] == ["c1"]
        client.close()


def test_printable_escapes_what_a_terminal_would_obey_and_keeps_any_script():
    assert printable("Қазақстан — Ўзбекистон") == "Қазақстан — Ўзбекистон"
    shown = printable(HOSTILE_TITLE)
    assert shown.isprintable() and "\x1b" not in shown and "\u009b" not in shown and "\u202e" not in shown
    assert "\\x1b[2J" in shown and "\\r\\n" in shown


def test_a_peers_error_title_reaches_sync_status_and_log_without_control_characters(make_home):
    home = make_home("kz", "KZ")
    with fake_taxii(lambda handler: (403, {"title": HOSTILE_TITLE, "http_status": "403"})) as (base, _seen):
        set_config(home, "peers", {"uz": {"url": base + "/taxii2/", "token": "t", "pull": ["regional"]}})
        result = run_qalqan("sync", "--once", home=home)
        json_log = run_qalqan("--log-format", "json", "sync", "--once", home=home)
    assert result.returncode == 1
    assert "forged line" in result.stderr  # the title is shown ...
    for text in (result.stdout, result.stderr):  # ... in sync output and its log lines, escaped
        assert "\x1b" not in text and "\x07" not in text and "\u009b" not in text and "\u202e" not in text
        assert "\nqalqan: forged line" not in text and "\r" not in text
    assert "\\x1b[2J" in result.stderr
    status = run_qalqan("status", home=home)
    assert status.returncode == 0 and "last error: HTTP 403" in status.stdout
    assert "\x1b" not in status.stdout and "\\x1b[2J" in status.stdout and "\r" not in status.stdout
    assert '"error": "HTTP 403' in json_log.stderr and "forged line" in json_log.stderr
    assert "\u009b" not in json_log.stderr and "\u202e" not in json_log.stderr


def test_the_admin_peers_page_shows_a_peers_error_escaped(admin, node, uz):
    node.add_peer("uz", uz.card(), "http://127.0.0.1:8002/taxii2/", pull=["regional"])
    with node.store.transaction() as db:
        db["peers"].insert({"name": "uz", "last_attempt": 1, "last_error": "HTTP 403: " + HOSTILE_TITLE,
                            "last_error_at": 1})
    html = admin.get("/admin/peers").text
    assert "forged line" in html and "\\x1b[2J" in html
    assert "\x1b" not in html and "\u202e" not in html and "\u009b" not in html


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"title": "a", "title": "b"}'])
def test_a_peers_hostile_error_body_is_an_http_error_without_its_title(make_home, body):
    home = make_home("kz", "KZ")
    with fake_taxii(lambda handler: (403, body)) as (base, _seen):
        set_config(home, "peers", {"uz": {"url": base + "/taxii2/", "token": "t", "pull": ["regional"]}})
        result = run_qalqan("sync", "--once", home=home)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "HTTP 403 from" in result.stderr and "RecursionError" not in result.stderr
    assert "taxii2/: b" not in result.stderr  # a title given twice is not shown
