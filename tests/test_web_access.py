"""The admin access page: feeds (add) with their readers and writers (grant, revoke),
peers (list, remove), tokens (create, revoke), accounts (remove, new password), pinned
cards (remove); admins only, every POST with CSRF,
every change audited as made by the admin."""
from __future__ import annotations

import pytest
import yaml

from web_fixtures import ANALYST, csrf_from, log_in

PAGE = "/admin/access"


def post(client, path: str, **data):
    return client.post(path, data={"csrf_token": csrf_from(client.get(PAGE).text), **data}, follow_redirects=True)


def feed_file(node, name) -> dict:
    return yaml.safe_load((node.home / "feeds" / f"{name}.yaml").read_text("utf-8"))


def audited(node, event) -> list[dict]:
    return node.store.query("SELECT source, reason FROM audit WHERE event = ?", [event])


def test_the_page_lists_feeds_with_readers_and_writers_tokens_accounts_and_cards(admin, node, uz):
    node.trust_card(uz.card())
    node.create_token("uz")
    html = admin.get(PAGE).text
    for feed in node.config.feeds.values():
        assert feed.id in html
    assert "<td>TLP:AMBER</td>" in html and "public <button" in html
    assert node.store.one("SELECT id FROM tokens")["id"] in html
    assert "ana" in html and "root" in html and uz.config.identity in html
    assert 'href="/admin/access"' in html


def test_an_admin_grants_and_revokes_a_feed(admin, node):
    page = post(admin, "/admin/access/feed-grant", feed="bilateral", peer="uz", rights="read+write")
    assert "Feed bilateral: uz may read and write it." in page.text
    assert feed_file(node, "bilateral")["readers"] == ["uz"] and feed_file(node, "bilateral")["writers"] == ["uz"]
    assert node.config.feed("bilateral").may_read("uz")  # the serving node follows at once
    page = post(admin, "/admin/access/feed-revoke", feed="bilateral", peer="uz")
    assert "may no longer read or write it" in page.text
    assert feed_file(node, "bilateral")["readers"] == [] and feed_file(node, "bilateral")["writers"] == []
    assert [r["source"] for r in audited(node, "feed-granted") + audited(node, "feed-revoked")] == ["admin root"] * 2


def test_a_grant_the_feed_file_would_refuse_is_explained_and_changes_nothing(admin, node):
    before = (node.home / "feeds" / "public.yaml").read_bytes()
    page = post(admin, "/admin/access/feed-grant", feed="public", peer="public", rights="write")
    assert "Not changed: PEER: &#39;public&#39; (anyone) may read a feed but never write to it" in page.text
    assert (node.home / "feeds" / "public.yaml").read_bytes() == before


def test_an_admin_revokes_a_token(admin, node):
    secret = node.create_token("uz")
    token_id = node.store.one("SELECT id FROM tokens")["id"]
    page = post(admin, "/admin/access/token-revoke", name=token_id)
    assert "Revoked the token(s)" in page.text and node.peer_for_token(secret) is None
    assert audited(node, "token-revoked")[0]["source"] == "admin root"


def test_an_admin_removes_an_account_and_its_sessions_end(admin, node, app):
    other = app.test_client()
    assert log_in(other, *ANALYST).status_code == 302
    page = post(admin, "/admin/access/user-remove", name=ANALYST[0])
    assert "Removed the account ana" in page.text
    assert node.store.one("SELECT COUNT(*) AS n FROM web_sessions WHERE user = 'ana'")["n"] == 0
    assert other.get("/incidents").status_code == 302  # back to the log-in page
    assert audited(node, "user-removed")[0]["source"] == "admin root"


def test_an_admin_cannot_remove_their_own_account(admin, node):
    page = post(admin, "/admin/access/user-remove", name="root")
    assert "you cannot remove your own account" in page.text
    assert node.store.one("SELECT COUNT(*) AS n FROM users WHERE name = 'root'")["n"] == 1


def test_an_admin_unpins_a_card_but_not_this_nodes_own(admin, node, uz):
    node.trust_card(uz.card())
    page = post(admin, "/admin/access/trust-remove", name=node.config.identity)
    assert "this node&#39;s own card" in page.text and node.trust.pinned_card(node.config.identity)
    page = post(admin, "/admin/access/trust-remove", name=uz.config.identity)
    assert f"Unpinned the card of {uz.config.identity}" in page.text
    assert node.trust.pinned_card(uz.config.identity) is None


def test_an_admin_adds_a_feed_nobody_may_read_yet(admin, node):
    page = post(admin, "/admin/access/feed-add", name="ots", max_tlp="green", title="OTS members")
    assert "Feed ots made; nobody may read it yet." in page.text
    data = feed_file(node, "ots")
    assert (data["title"], data["max_tlp"], data["readers"], data["writers"]) == ("OTS members", "green", [], [])
    assert data["id"] in page.text and node.config.feed("ots").id == data["id"]
    assert audited(node, "feed-added")[0]["source"] == "admin root"


def test_a_feed_add_the_library_refuses_is_explained_and_writes_nothing(admin, node):
    page = post(admin, "/admin/access/feed-add", name="secret", max_tlp="red")
    assert "Not changed: --max-tlp: TLP:RED is never shared" in page.text
    assert not (node.home / "feeds" / "secret.yaml").exists() and audited(node, "feed-added") == []


@pytest.mark.parametrize("keep_old", [False, True])
def test_an_admin_creates_a_token_shown_once_that_keeps_or_revokes_the_old(admin, node, keep_old):
    old = node.create_token("uz")
    page = post(admin, "/admin/access/token-create", name="uz", **({"keep_old": "y"} if keep_old else {}))
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    secret = page.text.split('<code class="secret">')[1].split("</code>")[0]
    assert node.peer_for_token(secret) == "uz"
    assert (node.peer_for_token(old) == "uz") is keep_old
    assert secret not in admin.get(PAGE).text  # shown once only
    assert audited(node, "token-created")[-1]["source"] == "admin root"


def test_the_page_lists_peers_and_an_admin_removes_one(admin, node, uz):
    node.add_peer("uz", uz.card(), "http://127.0.0.1:8002/taxii2/", pull=["bilateral"])
    post(admin, "/admin/access/feed-grant", feed="bilateral", peer="uz", rights="read")
    secret = node.create_token("uz")
    html = admin.get(PAGE).text
    assert "http://127.0.0.1:8002/taxii2/" in html and 'action="/admin/access/peer-remove"' in html
    page = post(admin, "/admin/access/peer-remove", name="uz")
    assert "Removed peer uz" in page.text
    assert "uz" not in yaml.safe_load((node.home / "config.yaml").read_text("utf-8")).get("peers", {})
    assert feed_file(node, "bilateral")["readers"] == [] and node.peer_for_token(secret) is None
    assert audited(node, "peer-removed")[0]["source"] == "admin root"


def test_an_admin_sets_a_new_password_and_the_accounts_sessions_end(admin, node, app):
    from node.users import check_login
    other = app.test_client()
    assert log_in(other, *ANALYST).status_code == 302
    page = post(admin, "/admin/access/user-passwd", name="ana", password="a-new-password-2")
    assert "New password for ana; its sessions ended." in page.text and "a-new-password-2" not in page.text
    assert check_login(node.store, "ana", "a-new-password-2") and not check_login(node.store, *ANALYST)
    assert other.get("/incidents").status_code == 302
    assert audited(node, "user-password")[0]["source"] == "admin root"
    page = post(admin, "/admin/access/user-passwd", name="ana", password="short")
    assert "Not changed: password: at least" in page.text


ACTIONS = [("/admin/access/feed-grant", {"feed": "bilateral", "peer": "uz", "rights": "read"}),
           ("/admin/access/feed-revoke", {"feed": "public", "peer": "public"}),
           ("/admin/access/feed-add", {"name": "ots", "max_tlp": "green"}),
           ("/admin/access/token-create", {"name": "uz"}),
           ("/admin/access/token-revoke", {"name": "uz"}),
           ("/admin/access/peer-remove", {"name": "uz"}),
           ("/admin/access/user-remove", {"name": "ana"}),
           ("/admin/access/user-passwd", {"name": "ana", "password": "a-new-password-2"}),
           ("/admin/access/trust-remove", {"name": "uz"})]


def _unchanged(node, tokens_before: list) -> None:
    from node.users import check_login
    assert feed_file(node, "public")["readers"] == ["public"] and feed_file(node, "bilateral")["readers"] == []
    assert not (node.home / "feeds" / "ots.yaml").exists()
    assert node.store.query("SELECT id FROM tokens") == tokens_before
    assert node.store.one("SELECT COUNT(*) AS n FROM users")["n"] == 2 and check_login(node.store, *ANALYST)


@pytest.mark.parametrize("path, data", ACTIONS)
def test_every_change_needs_a_csrf_token(admin, node, path, data):
    node.create_token("uz")
    before = node.store.query("SELECT id FROM tokens")
    assert admin.post(path, data=data).status_code == 400
    _unchanged(node, before)


@pytest.mark.parametrize("path, data", ACTIONS)
def test_an_analyst_may_neither_see_nor_change_access(analyst, node, path, data):
    assert analyst.get(PAGE).status_code == 403
    token = csrf_from(analyst.get("/incidents").text)
    node.create_token("uz")
    before = node.store.query("SELECT id FROM tokens")
    assert analyst.post(path, data={"csrf_token": token, **data}).status_code == 403
    _unchanged(node, before)
