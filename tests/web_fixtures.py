"""Fixtures and helpers for the web UI tests: a node with analyst and admin accounts,
Flask test clients logged in as each, CSRF tokens read from pages."""
from __future__ import annotations

import io
import re
import shutil
import sqlite3
from contextlib import closing
from html import unescape
from pathlib import Path

import pytest

from node.app import create_app
from node.home import Node, init_home
from node.users import add_user

from conftest import incident_record  # noqa: F401  (re-exported for the web tests)

ANALYST = ("ana", "analyst-password-1")
ADMIN = ("root", "admin-password-12")

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page carries no CSRF token"
    return unescape(match.group(1) or match.group(2))


def log_in(client, name: str, password: str, follow: bool = False):
    page = client.get("/login")
    return client.post("/login", data={"csrf_token": csrf_from(page.text), "name": name, "password": password},
                       follow_redirects=follow)


def post_form(client, path: str, data: dict, page: str | None = None, **kwargs):
    """POST a form the way a browser does: with the CSRF token of the page that shows it."""
    html = client.get(page or path).text
    return client.post(path, data={"csrf_token": csrf_from(html), **data}, **kwargs)


def form_data(record: dict) -> dict:
    """An incident record as the web form's fields carry it. With `share`, as a browser
    sends the ticked feed boxes (and the marker that they were shown); without, as a
    POST that leaves sharing to the record default."""
    data = {"share_offered": "1"} if "share" in record else {}
    for key, value in record.items():
        if key == "accounts":
            data[key] = "\n".join(f"{a['platform']} {a['login']}" for a in value)
        elif key in ("urls", "media_sha256"):
            data[key] = "\n".join(value)
        elif key in ("platforms", "target_countries"):
            data[key] = ", ".join(value)
        elif key in ("disarm", "share"):
            data[key] = list(value)
        else:
            data[key] = str(value)
    return data


@pytest.fixture(scope="session")
def web_template(tmp_path_factory) -> Path:
    """A KZ home with an analyst and an admin, made once: hashing their passwords is
    most of the cost of a home, and every web test starts from a copy."""
    home = tmp_path_factory.mktemp("web-template") / "kz"
    init_home(home, "kz", "KZ", "http://127.0.0.1:8001")
    node = Node(home)
    add_user(node.store, ANALYST[0], "analyst", ANALYST[1])
    add_user(node.store, ADMIN[0], "admin", ADMIN[1])
    with closing(sqlite3.connect(node.config.database_path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the copies hold the whole database
    return home


@pytest.fixture
def web_home(web_template, tmp_path) -> Path:
    return Path(shutil.copytree(web_template, tmp_path / "kz"))  # keeps the 0600/0700 modes


@pytest.fixture
def app(web_home):
    return create_app(web_home)


@pytest.fixture
def node(app) -> Node:
    return app.extensions["qalqan_node"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def analyst(app):
    client = app.test_client()
    assert log_in(client, *ANALYST).status_code == 302
    return client


@pytest.fixture
def admin(app):
    client = app.test_client()
    assert log_in(client, *ADMIN).status_code == 302
    return client


def import_from(node: Node, other: Node, pin: bool = True):
    """Bring another node's own objects in as a file import, pinning its card first."""
    if pin:
        node.trust_card(other.card())
    out = io.StringIO()
    other.export(out)
    return node.import_stream(io.BytesIO(out.getvalue().encode("utf-8")), source=None)
