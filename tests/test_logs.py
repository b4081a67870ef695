"""What an operator reads on a node's stderr: one access-log line per request naming
the caller and never a secret, failed authentications, a traceback for every
unexpected error, text or JSON lines."""
from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys

import pytest
import requests

from node.app import create_app
from node.home import Node
from node.users import add_user
from conftest import run_qalqan
from nodes import REPO, TAXII, edit_config, introduce, make_home, server_log, serving
from web_fixtures import ADMIN, csrf_from, log_in

PASSWORD = "correct-horse-battery-9"
WRONG_PASSWORD = "wrong-password-Zq81"


@pytest.fixture
def home(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    token = introduce(home, make_home(tmp_path, "uz", "UZ"))
    add_user(Node(home).store, "ana", "analyst", PASSWORD)
    return home, token


def access_lines(log: str, method: str, path: str) -> list[str]:
    return [line for line in log.splitlines() if "qalqan.http" in line and f'"{method} {path} ' in line]


def ui_session(base: str, name: str, password: str) -> tuple[requests.Session, requests.Response]:
    session = requests.Session()
    page = session.get(base + "/login", timeout=30)
    answer = session.post(base + "/login", data={"csrf_token": csrf_from(page.text), "name": name,
                                                 "password": password}, allow_redirects=False, timeout=30)
    return session, answer


def test_a_request_through_serve_logs_one_access_line_with_the_caller_and_no_secret(home):
    home, token = home
    basic = base64.b64encode(f"uz:{token}".encode()).decode()
    with serving(home) as (base, proc):
        answer = requests.get(base + "/taxii2/api/collections/?next=page-secret-123",
                              headers={"Accept": TAXII, "Authorization": f"Token {token}"}, timeout=30)
        assert answer.status_code == 200
        assert requests.get(base + "/taxii2/api/", timeout=30,
                            headers={"Accept": TAXII, "Authorization": f"Basic {basic}"}).status_code == 200
        session, login = ui_session(base, "ana", PASSWORD)
        assert login.status_code == 302
        assert session.get(base + "/incidents", timeout=30).status_code == 200
        cookie = session.cookies.get("session")
    log = server_log(proc)

    [line] = access_lines(log, "GET", "/taxii2/api/collections/")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO qalqan\.http: 127\.0\.0\.1 peer:uz "
                    r'"GET /taxii2/api/collections/ HTTP/1\.1" 200 \d+ [\d.]+ms$', line), line
    assert "peer:uz" in access_lines(log, "GET", "/taxii2/api/")[0]
    assert " 302 " in access_lines(log, "POST", "/login")[0] and "user:ana" in access_lines(log, "POST", "/login")[0]
    assert "user:ana" in access_lines(log, "GET", "/incidents")[0]
    assert cookie
    for secret in (token, basic, PASSWORD, cookie, "page-secret-123"):
        assert secret not in log


def test_json_log_lines_parse_and_carry_the_request_fields(home):
    home, token = home
    with serving(home, global_options=("--log-format", "json")) as (base, proc):
        requests.get(base + "/taxii2/api/collections/", headers={"Accept": TAXII, "Authorization": f"Token {token}"},
                     timeout=30)
    entries = [json.loads(line) for line in server_log(proc).splitlines() if line.strip()]
    [entry] = [e for e in entries if e["logger"] == "qalqan.http" and e.get("path") == "/taxii2/api/collections/"]
    assert entry["method"] == "GET" and entry["status"] == 200 and entry["caller"] == "peer:uz"
    assert entry["client"] == "127.0.0.1" and entry["bytes"] > 0 and entry["duration_ms"] >= 0
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", entry["time"]) and entry["level"] == "INFO"
    assert token not in server_log(proc)


def test_log_level_after_the_subcommand_silences_the_access_log(home):
    home, _ = home
    with serving(home, "--log-level", "warning") as (base, proc):
        assert requests.get(base + "/taxii2/", headers={"Accept": TAXII}, timeout=30).status_code == 200
    assert "qalqan.http" not in server_log(proc)


def test_failed_authentications_are_logged_without_the_secret(home):
    home, token = home
    wrong_token = "qk_" + "x" * 40
    basic = base64.b64encode(f"uz:{wrong_token}".encode()).decode()
    no_colon = base64.b64encode(token.encode()).decode()
    with serving(home) as (base, proc):
        for header in (f"Token {wrong_token}", f"Basic {basic}", token, f"Basic {no_colon}"):
            answer = requests.get(base + "/taxii2/api/collections/", timeout=30,
                                  headers={"Accept": TAXII, "Authorization": header})
            assert answer.status_code == 401
        _, login = ui_session(base, "ana", WRONG_PASSWORD)
        assert login.status_code == 401
        _, login = ui_session(base, "n" * 300, WRONG_PASSWORD)
        assert login.status_code == 401
    log = server_log(proc)
    taxii = [line for line in log.splitlines() if "TAXII authentication failed from 127.0.0.1" in line]
    assert len(taxii) == 4 and "scheme Token" in taxii[0] and "scheme Basic, peer uz" in taxii[1]
    assert "(scheme unknown)" in taxii[2]  # a bare secret as the header: not echoed as its "scheme"
    assert taxii[3].endswith("(scheme Basic)")  # Basic with no colon: no name, since it may be the secret
    ui = [line for line in log.splitlines() if "UI log-in failed for user" in line]
    assert "user ana from 127.0.0.1" in ui[0]
    assert "n" * 32 in ui[1] and "n" * 300 not in ui[1]  # a name tried is truncated
    for secret in (wrong_token, basic, WRONG_PASSWORD, token, token[:16], no_colon):
        assert secret not in log


def test_an_unexpected_error_in_a_ui_route_gives_the_error_page_and_a_logged_traceback(tmp_path, caplog):
    home = make_home(tmp_path, "kz", "KZ")
    add_user(Node(home).store, ADMIN[0], "admin", ADMIN[1])
    app = create_app(home)
    client = app.test_client()
    assert log_in(client, *ADMIN).status_code == 302
    assert client.get("/incidents").status_code == 200
    db = sqlite3.connect(Node(home).config.database_path)
    db.execute("DROP TABLE web_incident_terms")  # the UI's index, gone under the running app
    db.commit()
    with caplog.at_level(logging.ERROR, logger="qalqan"):
        page = client.get("/incidents")
    assert page.status_code == 500 and page.mimetype == "text/html"
    assert "Internal Server Error" in page.text and "web_incident_terms" not in page.text
    [record] = [r for r in caplog.records if r.name == "qalqan.web.security"]
    assert record.getMessage() == "UI request failed: GET /incidents" and record.exc_info
    assert "no such table: web_incident_terms" in caplog.text and "Traceback" in caplog.text


def test_each_peer_of_a_sync_round_is_one_log_line_with_its_counts(home):
    home, _ = home
    edit_config(home, "peers.uz.pull", ["bilateral"])
    out = run_qalqan("--log-format", "json", "sync", "--once", home=home)  # uz listens nowhere: it fails
    assert out.returncode == 1
    [entry] = [json.loads(line) for line in out.stderr.splitlines()
               if line.startswith("{") and json.loads(line)["logger"] == "qalqan.sync.rounds"]
    assert entry["level"] == "WARNING" and entry["peer"] == "uz" and entry["received"] == 0
    assert entry["error"].startswith("cannot connect") and entry["message"].startswith("sync uz: received 0")


def test_the_log_level_may_come_from_the_environment_and_a_wrong_one_is_a_usage_error(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    env = dict(os.environ, PYTHONPATH=str(REPO), QALQAN_LOG_LEVEL="loud")
    out = subprocess.run([sys.executable, "-m", "node", "--home", str(home), "status"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "QALQAN_LOG_LEVEL: 'loud' is not one of debug, info, warning, error" in out.stderr
    env["QALQAN_LOG_LEVEL"] = "debug"
    edit_config(home, "peers", {"uz": {"url": "http://127.0.0.1:9/taxii2/", "pull": ["bilateral"]}})
    out = subprocess.run([sys.executable, "-m", "node", "--home", str(home), "sync", "--once"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert " WARNING qalqan.sync.rounds: sync uz: received 0" in out.stderr
    out = subprocess.run([sys.executable, "-m", "node", "--home", str(home), "sync", "--once", "--log-level",
                          "error"], env=env, capture_output=True, text=True, timeout=120)
    assert "qalqan.sync.rounds" not in out.stderr  # the option wins over the environment


def test_a_json_line_carries_the_traceback_of_an_exception():
    from node import logs
    stream = io.StringIO()
    logs.configure("info", "json", stream=stream)
    try:
        try:
            {}["missing"]
        except KeyError:
            logs.get_logger("node.sync.loop").exception("pull from uz failed")
    finally:
        logging.getLogger().handlers = [h for h in logging.getLogger().handlers if h.get_name() != logs.ROOT]
    entry = json.loads(stream.getvalue())
    assert entry["logger"] == "qalqan.sync.loop" and entry["level"] == "ERROR"
    assert entry["message"] == "pull from uz failed" and "KeyError: 'missing'" in entry["traceback"]


# -- TAXII errors ------------------------------------------------------------------------

def _public_objects(home) -> str:
    return f"/taxii2/api/collections/{Node(home).config.feed('public').id}/objects/"


def test_an_unexpected_error_in_a_taxii_route_answers_a_taxii_error_and_logs_a_traceback(tmp_path, caplog,
                                                                                          monkeypatch):
    home = make_home(tmp_path, "kz", "KZ")
    client = create_app(home).test_client()

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk image is malformed")
    monkeypatch.setattr("node.taxii.queries.read_page", broken)
    with caplog.at_level(logging.ERROR, logger="qalqan"):
        answer = client.get(_public_objects(home), headers={"Accept": TAXII})
    assert answer.status_code == 500 and answer.headers["Content-Type"] == TAXII
    assert answer.get_json() == {"title": "Internal Server Error", "http_status": "500",
                                 "description": "the server failed to answer this request"}
    assert "malformed" not in answer.text
    [record] = [r for r in caplog.records if r.name == "qalqan.taxii.routes"]
    assert record.getMessage() == f"TAXII request failed: GET {_public_objects(home)}" and record.exc_info
    assert "Traceback" in caplog.text and "disk image is malformed" in caplog.text


def test_taxii_refusals_are_logged_with_status_and_title_but_not_the_query(tmp_path, caplog, monkeypatch):
    home = make_home(tmp_path, "kz", "KZ")
    client = create_app(home).test_client()
    with caplog.at_level(logging.INFO, logger="qalqan"):
        assert client.get("/taxii2/api/collections/no-such-feed/?next=page-secret-123",
                          headers={"Accept": TAXII}).status_code == 401
        assert client.delete("/taxii2/", headers={"Accept": TAXII}).status_code == 405
        from werkzeug.exceptions import RequestEntityTooLarge
        monkeypatch.setattr("node.taxii.queries.read_page",
                            lambda *a, **k: (_ for _ in ()).throw(RequestEntityTooLarge("too big for us")))
        assert client.get(_public_objects(home), headers={"Accept": TAXII}).status_code == 413
    lines = [r.getMessage() for r in caplog.records if r.name == "qalqan.taxii.routes"]
    assert lines == ["TAXII GET /taxii2/api/collections/no-such-feed/ refused 401 Unauthorized: "
                     "credentials are missing or not valid",
                     "TAXII DELETE /taxii2/ refused 405 Method Not Allowed: DELETE is not supported here",
                     f"TAXII GET {_public_objects(home)} refused 413 Payload Too Large: too big for us"]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "qalqan.taxii.routes")
    assert "page-secret-123" not in caplog.text
