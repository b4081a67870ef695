"""The admin access page: feeds with their readers and writers (grant, revoke), tokens
(revoke), accounts (remove), pinned cards (remove); admins only, every POST with CSRF,
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
    assert "Feed bilateral: uz may read+write." in page.text
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


ACTIONS = [("/admin/access/feed-grant", {"feed": "bilateral", "peer": "uz", "rights": "read"}),
           ("/admin/access/feed-revoke", {"feed": "public", "peer": "public"}),
           ("/admin/access/token-revoke", {"name": "uz"}),
           ("/admin/access/user-remove", {"name": "ana"}),
           ("/admin/access/trust-remove", {"name": "uz"})]


@pytest.mark.parametrize("path, data", ACTIONS)
def test_every_change_needs_a_csrf_token(admin, node, path, data):
    node.create_token("uz")
    assert admin.post(path, data=data).status_code == 400
    assert feed_file(node, "public")["readers"] == ["public"] and feed_file(node, "bilateral")["readers"] == []
    assert node.store.one("SELECT COUNT(*) AS n FROM tokens")["n"] == 1
    assert node.store.one("SELECT COUNT(*) AS n FROM users")["n"] == 2


@pytest.mark.parametrize("path, data", ACTIONS)
def test_an_analyst_may_neither_see_nor_change_access(analyst, node, path, data):
    assert analyst.get(PAGE).status_code == 403
    token = csrf_from(analyst.get("/incidents").text)
    assert analyst.post(path, data={"csrf_token": token, **data}).status_code == 403
    assert feed_file(node, "public")["readers"] == ["public"]
    assert node.store.one("SELECT COUNT(*) AS n FROM users")["n"] == 2
