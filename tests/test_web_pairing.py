"""The admin pairing page: make an invitation (fingerprint shown, file offered in that
one response), and accept one in two steps (upload shows who, fingerprint and feeds;
only the confirmation changes anything). Admins only, CSRF on every POST, audited."""
from __future__ import annotations

import base64
import io
import json
import re
from html import unescape

import yaml
from web_fixtures import csrf_from

from node import pairing

PAGE = "/admin/pairing"


def post(client, path: str, data: dict, **kwargs):
    return client.post(path, data={"csrf_token": csrf_from(client.get(PAGE).text), **data}, **kwargs)


def upload(client, raw: bytes):
    return post(client, "/admin/pairing/join", {"file": (io.BytesIO(raw), "kz.invitation")},
                content_type="multipart/form-data", follow_redirects=True)


def test_an_admin_makes_an_invitation_and_downloads_it_once(admin, node):
    page = post(admin, "/admin/pairing/invite", {"peer": "uz", "read": ["bilateral", "regional"],
                                                 "write": ["bilateral"], "days": "3"})
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    link = re.search(r'download="uz.invitation" href="data:application/json;base64,([^"]+)"', page.text)
    data = json.loads(base64.b64decode(unescape(link[1])))
    assert f'<code class="fingerprint">{pairing.fingerprint(data)}</code>' in page.text
    assert {(f["alias"], f["read"], f["write"]) for f in data["feeds"]} == {("bilateral", True, True),
                                                                             ("regional", True, False)}
    assert node.peer_for_token(data["token"]) == "uz" and node.config.feed("bilateral").writers == ["uz"]
    assert node.store.query("SELECT source FROM audit WHERE event = 'invitation-created'") == [{"source": "admin root"}]


def test_a_bad_invite_is_explained_and_makes_no_token(admin, node):
    page = post(admin, "/admin/pairing/invite", {"peer": "uz"}, follow_redirects=True)
    assert "No invitation made: say which feeds the partner may use" in page.text
    assert node.store.query("SELECT id FROM tokens") == []


def test_an_admin_sees_an_invitation_then_accepts_it(admin, node, uz):
    raw = json.dumps(pairing.invite(uz, "kz", read=["bilateral"], write=["bilateral"]).data).encode()
    shown = upload(admin, raw)
    assert "invitation from uz (UZ) at http://127.0.0.1:8002" in shown.text
    assert pairing.fingerprint(json.loads(raw)) in shown.text and "bilateral (read+write)" in shown.text
    assert "uz" not in (yaml.safe_load((node.home / "config.yaml").read_text()).get("peers") or {})  # not yet
    confirm = csrf_from(shown.text)
    hidden = re.search(r'name="invitation" type="hidden" value="([^"]+)"', shown.text)[1]
    done = admin.post("/admin/pairing/accept", data={"csrf_token": confirm, "invitation": unescape(hidden)},
                      follow_redirects=True)
    assert "Joined uz: card pinned; peer uz at http://127.0.0.1:8002/taxii2/ pulls bilateral" in done.text
    entry = yaml.safe_load((node.home / "config.yaml").read_text())["peers"]["uz"]
    assert entry["pull"] == ["bilateral"] and entry["push"] == ["bilateral"] and entry["identity"] == uz.config.identity
    assert node.store.query("SELECT source FROM audit WHERE event = 'invitation-accepted'") == [{"source": "admin root"}]
    again = admin.post("/admin/pairing/accept", data={"csrf_token": confirm, "invitation": unescape(hidden)},
                       follow_redirects=True)
    assert "Not accepted: invitation: invitation invitation--" in again.text and "works once" in again.text


def test_a_changed_invitation_is_not_shown_and_changes_nothing(admin, node, uz):
    data = pairing.invite(uz, "kz", read=["bilateral"]).data
    data["url"] = "http://127.0.0.1:6666"
    before = (node.home / "config.yaml").read_bytes()
    page = upload(admin, json.dumps(data).encode())
    assert "Not accepted: kz.invitation: the signature does not verify" in page.text
    assert "Accept this invitation?" not in page.text and (node.home / "config.yaml").read_bytes() == before


def test_only_admins_reach_pairing_and_every_post_needs_csrf(analyst, admin):
    assert analyst.get(PAGE).status_code == 403
    assert analyst.post("/admin/pairing/invite", data={"peer": "uz", "read": ["bilateral"]}).status_code in (400, 403)
    for path in ("/admin/pairing/invite", "/admin/pairing/join", "/admin/pairing/accept"):
        assert admin.post(path, data={"peer": "uz", "read": ["bilateral"]}).status_code == 400


def test_a_deeply_nested_upload_is_explained_not_a_server_error(admin, node):
    before = (node.home / "config.yaml").read_bytes()
    page = upload(admin, b"[" * 100_000 + b"]" * 100_000)
    assert page.status_code == 200 and "Not accepted: kz.invitation: not an invitation (JSON nested deeper" in page.text
    assert (node.home / "config.yaml").read_bytes() == before
