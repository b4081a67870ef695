"""Access from the command line: feeds and their readers and writers, tokens, peers,
web accounts and pinned cards. Every change lands in the audit log; a revoked token or
a removed peer is refused on its next request by a running `qalqan serve`."""
from __future__ import annotations

import json
import uuid

import pytest
import requests
import yaml

from node.cli import main
from node.home import Node
from node.users import add_user, check_login
from node.web import sessions

from conftest import run_qalqan
from nodes import TAXII, running_node


def qalqan(home, *args, capsys) -> tuple[int, str, str]:
    """`qalqan --home HOME ARGS…` in this process: (exit code, stdout, stderr)."""
    code = main(["--home", str(home), *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def audit(node: Node, event: str) -> list[dict]:
    return node.store.query("SELECT source, reason FROM audit WHERE event = ? ORDER BY seq", [event])


def feed_file(home, name) -> dict:
    return yaml.safe_load((home / "feeds" / f"{name}.yaml").read_text("utf-8"))


@pytest.fixture
def kz_home(make_home):
    return make_home("kz", "KZ")


@pytest.fixture
def with_uz(kz_home, uz, tmp_path):
    """KZ with UZ as a peer in config.yaml (card pinned), reading bilateral, with a token."""
    Node(kz_home).add_peer("uz", uz.card(), "http://127.0.0.1:8002/taxii2/", pull=["bilateral"])
    return kz_home


# -- feeds -----------------------------------------------------------------------------

def test_feed_add_writes_a_feed_file_with_a_fresh_uuid4_and_nobody_reading(kz_home, capsys):
    code, out, _ = qalqan(kz_home, "feed", "add", "ots", "--max-tlp", "green", "--title", "OTS members",
                          "--description", "Shared with OTS nodes", capsys=capsys)
    assert code == 0
    data = feed_file(kz_home, "ots")
    assert uuid.UUID(data["id"]).version == 4 and data["id"] in out
    assert data == {"id": data["id"], "title": "OTS members", "description": "Shared with OTS nodes",
                    "max_tlp": "green", "readers": [], "writers": []}
    assert (kz_home / "feeds" / "ots.yaml").stat().st_mode & 0o777 == 0o600
    node = Node(kz_home)
    assert node.config.feed("ots").title == "OTS members"
    assert audit(node, "feed-added") == [{"source": "cli", "reason": f"feed ots ({data['id']}) up to TLP:GREEN"}]


@pytest.mark.parametrize("tlp", ["red", "amber+strict"])
def test_feed_add_refuses_a_ceiling_that_is_never_shared(kz_home, tlp, capsys):
    code, _, err = qalqan(kz_home, "feed", "add", "secret", "--max-tlp", tlp, capsys=capsys)
    assert code == 2 and f"TLP:{tlp.upper()} is never shared" in err
    assert not (kz_home / "feeds" / "secret.yaml").exists()


def test_feed_add_refuses_an_existing_feed_or_a_bad_name(kz_home, capsys):
    before = (kz_home / "feeds" / "bilateral.yaml").read_bytes()
    assert qalqan(kz_home, "feed", "add", "bilateral", "--max-tlp", "green", capsys=capsys)[0] == 2
    assert (kz_home / "feeds" / "bilateral.yaml").read_bytes() == before
    code, _, err = qalqan(kz_home, "feed", "add", "Bad Name", "--max-tlp", "green", capsys=capsys)
    assert code == 2 and "'Bad Name' is not a name" in err


def test_feed_list_shows_each_feed_with_its_id_ceiling_readers_and_writers(kz_home, capsys):
    node = Node(kz_home)
    code, out, _ = qalqan(kz_home, "feed", "list", capsys=capsys)
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert set(lines) == {"bilateral", "regional", "public"}
    assert node.config.feed("bilateral").id in lines["bilateral"] and "max amber" in lines["bilateral"]
    assert "readers: public" in lines["public"] and "writers: -" in lines["public"]


def test_feed_grant_and_revoke_by_name_or_id_edit_the_feed_file(kz_home, capsys):
    bilateral = Node(kz_home).config.feed("bilateral").id
    assert qalqan(kz_home, "feed", "grant", "bilateral", "uz", "--read", capsys=capsys)[0] == 0
    assert qalqan(kz_home, "feed", "grant", bilateral, "uz", "--write", capsys=capsys)[0] == 0
    assert qalqan(kz_home, "feed", "grant", "bilateral", "tm", "--read", "--write", capsys=capsys)[0] == 0
    data = feed_file(kz_home, "bilateral")
    assert data["readers"] == ["uz", "tm"] and data["writers"] == ["uz", "tm"] and data["id"] == bilateral
    code, out, _ = qalqan(kz_home, "feed", "revoke", bilateral, "uz", capsys=capsys)
    assert code == 0 and "readers tm; writers tm" in out
    assert feed_file(kz_home, "bilateral")["readers"] == ["tm"]
    reasons = [r["reason"] for r in audit(Node(kz_home), "feed-granted") + audit(Node(kz_home), "feed-revoked")]
    assert reasons == ["feed bilateral: uz may read", "feed bilateral: uz may write",
                       "feed bilateral: tm may read+write", "feed bilateral: uz may no longer read or write"]


def test_feed_grant_refuses_what_the_feed_file_would_refuse(kz_home, capsys):
    before = (kz_home / "feeds" / "public.yaml").read_bytes()
    code, _, err = qalqan(kz_home, "feed", "grant", "public", "public", "--write", capsys=capsys)
    assert code == 2 and "'public' (anyone) may read a feed but never write" in err
    code, _, err = qalqan(kz_home, "feed", "grant", "public", "uz", capsys=capsys)
    assert code == 2 and "--read, --write or both" in err
    code, _, err = qalqan(kz_home, "feed", "grant", "nosuch", "uz", "--read", capsys=capsys)
    assert code == 2 and "no feed named 'nosuch'" in err
    code, _, err = qalqan(kz_home, "feed", "revoke", "public", "uz", capsys=capsys)
    assert code == 2 and "'uz' may neither read nor write feed public" in err
    assert (kz_home / "feeds" / "public.yaml").read_bytes() == before


def test_a_feed_edit_that_would_not_load_is_undone_and_a_new_file_removed(kz_home):
    from node import config as config_mod
    from node.errors import ConfigError
    path = kz_home / "feeds" / "bilateral.yaml"
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="bilateral.yaml: key 'max_tlp'"):
        config_mod.update_feed(kz_home, "bilateral", lambda data: data.update(max_tlp="purple"))
    assert path.read_bytes() == before
    with pytest.raises(ConfigError, match="key 'id': must be a UUIDv4"):
        config_mod.update_feed(kz_home, "extra", lambda data: data.update(id="1", title="x", max_tlp="green"),
                               create=True)
    assert not (kz_home / "feeds" / "extra.yaml").exists()


# -- tokens ----------------------------------------------------------------------------

def test_a_new_token_revokes_the_old_one_unless_keep_old(kz_home, capsys):
    node = Node(kz_home)
    first = node.create_token("uz")
    second = node.create_token("uz", keep_old=True)
    assert node.peer_for_token(first) == "uz" and node.peer_for_token(second) == "uz"
    code, out, err = qalqan(kz_home, "token", "create", "uz", capsys=capsys)
    third = out.split()[-1]
    assert code == 0 and "2 older token(s) of uz revoked" in err
    assert node.peer_for_token(first) is None and node.peer_for_token(second) is None
    assert node.peer_for_token(third) == "uz"
    assert len(audit(node, "token-revoked")) == 2 and len(audit(node, "token-created")) == 3


def test_token_list_shows_peer_id_and_creation_never_the_secret(kz_home, capsys):
    node = Node(kz_home)
    secret = node.create_token("uz")
    node.create_token("tm")
    code, out, _ = qalqan(kz_home, "token", "list", capsys=capsys)
    rows = node.store.query("SELECT id, peer, hash FROM tokens ORDER BY peer")
    assert code == 0 and [line.split()[:2] for line in out.splitlines()] == [[r["peer"], r["id"]] for r in rows]
    assert "created 20" in out
    assert secret not in out and all(r["hash"] not in out for r in rows)


def test_token_revoke_by_peer_or_by_token_id(kz_home, capsys):
    node = Node(kz_home)
    uz_secret, tm_secret = node.create_token("uz"), node.create_token("tm")
    tm_id = node.store.one("SELECT id FROM tokens WHERE peer = 'tm'")["id"]
    assert qalqan(kz_home, "token", "revoke", "uz", capsys=capsys)[:2] == (0, "uz: 1 token(s) revoked\n")
    assert qalqan(kz_home, "token", "revoke", tm_id, capsys=capsys)[0] == 0
    assert node.peer_for_token(uz_secret) is None and node.peer_for_token(tm_secret) is None
    code, _, err = qalqan(kz_home, "token", "revoke", "uz", capsys=capsys)
    assert code == 2 and "no token of a peer or with an id 'uz'" in err
    assert {r["source"] for r in audit(node, "token-revoked")} == {"cli"}


# -- peers -----------------------------------------------------------------------------

def test_peer_list_shows_configured_peers_and_those_that_only_hold_rights(with_uz, capsys):
    node = Node(with_uz)
    node.create_token("uz")
    qalqan(with_uz, "feed", "grant", "regional", "uz", "--read", capsys=capsys)
    qalqan(with_uz, "feed", "grant", "regional", "tm", "--write", capsys=capsys)
    code, out, _ = qalqan(with_uz, "peer", "list", capsys=capsys)
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert code == 0 and set(lines) == {"uz", "tm"}
    assert "http://127.0.0.1:8002/taxii2/" in lines["uz"] and "pull: bilateral" in lines["uz"]
    assert "reads: regional" in lines["uz"] and "tokens: 1" in lines["uz"]
    assert "(not in config.yaml)" in lines["tm"] and "writes: regional" in lines["tm"] and "tokens: 0" in lines["tm"]


def test_peer_remove_takes_the_peer_out_of_config_feeds_and_tokens(with_uz, uz, capsys):
    node = Node(with_uz)
    secret = node.create_token("uz")
    qalqan(with_uz, "feed", "grant", "bilateral", "uz", "--read", "--write", capsys=capsys)
    with node.store.transaction() as db:
        db.execute("INSERT INTO cursors (peer, feed, added_after) VALUES ('uz', 'x', '2026-01-01T00:00:00Z')")
    code, out, _ = qalqan(with_uz, "peer", "remove", "uz", capsys=capsys)
    assert code == 0
    assert out == ("peer uz: removed from config.yaml; no longer reads or writes feed bilateral; "
                   "1 token(s) revoked\n")
    fresh = Node(with_uz)
    assert "uz" not in fresh.config.peers and fresh.peer_for_token(secret) is None
    assert "uz" not in feed_file(with_uz, "bilateral")["readers"] + feed_file(with_uz, "bilateral")["writers"]
    assert fresh.store.one("SELECT COUNT(*) AS n FROM cursors WHERE peer = 'uz'")["n"] == 0
    assert audit(fresh, "peer-removed")[0]["reason"].startswith("peer uz: removed from config.yaml")
    # Its card stays pinned: what it signed still verifies. `trust remove` unpins it.
    assert fresh.trust.pinned_card(uz.config.identity) is not None
    code, _, err = qalqan(with_uz, "peer", "remove", "uz", capsys=capsys)
    assert code == 2 and "no peer named 'uz'" in err


# -- users -----------------------------------------------------------------------------

def test_user_list_remove_and_passwd_end_the_accounts_sessions(kz_home, capsys):
    node = Node(kz_home)
    add_user(node.store, "ana", "analyst", "analyst-password-1")
    add_user(node.store, "root", "admin", "admin-password-12")
    ana_session, root_session = sessions.start(node.store, "ana"), sessions.start(node.store, "root")
    code, out, _ = qalqan(kz_home, "user", "list", capsys=capsys)
    assert code == 0 and [line.split()[:2] for line in out.splitlines()] == [["ana", "analyst"], ["root", "admin"]]
    assert "sessions 1" in out and "password" not in out
    assert qalqan(kz_home, "user", "remove", "ana", capsys=capsys)[:2] == (0, "user ana removed\n")
    assert sessions.user_of(node.store, ana_session) is None
    assert check_login(node.store, "ana", "analyst-password-1") is None
    assert sessions.user_of(node.store, root_session)["name"] == "root"
    code, _, err = qalqan(kz_home, "user", "remove", "ana", capsys=capsys)
    assert code == 2 and "no user named 'ana'" in err
    assert audit(node, "user-removed")[0]["reason"] == "user ana removed; 1 web session(s) ended"


def test_user_passwd_reads_the_new_password_from_stdin_and_ends_sessions(kz_home):
    node = Node(kz_home)
    add_user(node.store, "root", "admin", "admin-password-12")
    session = sessions.start(node.store, "root")
    out = run_qalqan("user", "passwd", "root", "--password-stdin", input="a-new-password-34\n", home=kz_home)
    assert out.returncode == 0 and "1 web session(s) ended" in out.stdout
    assert check_login(node.store, "root", "a-new-password-34")
    assert not check_login(node.store, "root", "admin-password-12")
    assert sessions.user_of(node.store, session) is None
    assert "a-new-password" not in json.dumps(node.store.query("SELECT * FROM audit"))
    short = run_qalqan("user", "passwd", "root", "--password-stdin", input="short\n", home=kz_home)
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    assert check_login(node.store, "root", "a-new-password-34")


# -- trust -----------------------------------------------------------------------------

def test_trust_list_and_remove_unpin_a_card_but_never_this_nodes_own(kz_home, uz, capsys):
    node = Node(kz_home)
    node.trust_card(uz.card())
    code, out, _ = qalqan(kz_home, "trust", "list", capsys=capsys)
    assert code == 0 and f"kz  KZ  {node.config.identity}" in out and "(this node)" in out
    assert f"uz  UZ  {uz.config.identity}" in out
    code, _, err = qalqan(kz_home, "trust", "remove", "kz", capsys=capsys)
    assert code == 2 and "this node's own card" in err
    assert qalqan(kz_home, "trust", "remove", "uz", capsys=capsys)[0] == 0
    fresh = Node(kz_home)
    assert fresh.trust.pinned_card(uz.config.identity) is None
    assert not [k for k in fresh.trust.keys().values() if k.identity == uz.config.identity]
    assert audit(fresh, "trust-removed")[0]["reason"] == f"card of uz ({uz.config.identity}) unpinned"


def test_trust_remove_refuses_a_card_a_configured_peer_uses(with_uz, uz, capsys):
    code, _, err = qalqan(with_uz, "trust", "remove", uz.config.identity, capsys=capsys)
    assert code == 2 and "peer uz in config.yaml uses this card" in err
    assert Node(with_uz).trust.pinned_card(uz.config.identity) is not None


# -- while serving ---------------------------------------------------------------------

def _collections(base: str, secret: str) -> requests.Response:
    return requests.get(f"{base}/taxii2/api/collections/", headers={"Accept": TAXII,
                        "Authorization": f"Token {secret}"}, timeout=10)


def test_a_revoked_token_and_a_removed_peer_are_refused_by_a_running_server(with_uz):
    node = Node(with_uz)
    node.create_token("tm")
    tm_secret = node.create_token("tm", keep_old=True)
    uz_secret = node.create_token("uz")
    assert run_qalqan("feed", "grant", "bilateral", "uz", "--read", home=with_uz).returncode == 0
    with running_node(with_uz) as base:
        listed = _collections(base, uz_secret)
        assert listed.status_code == 200 and [c["alias"] for c in listed.json()["collections"]] == ["bilateral",
                                                                                                     "public"]
        assert _collections(base, tm_secret).status_code == 200
        assert run_qalqan("token", "revoke", "tm", home=with_uz).returncode == 0
        assert _collections(base, tm_secret).status_code == 401
        assert run_qalqan("peer", "remove", "uz", home=with_uz).returncode == 0
        assert _collections(base, uz_secret).status_code == 401


# -- every access change is audited with who made it --------------------------------------

def _events(home) -> dict[str, list[dict]]:
    rows = Node(home).store.query("SELECT event, object_id, source, reason FROM audit ORDER BY seq")
    events: dict[str, list[dict]] = {}
    for row in rows:
        events.setdefault(row["event"], []).append(row)
    return events


def test_peer_add_trust_add_and_key_changes_are_audited_with_who_made_them(kz_home, uz, tmp_path, capsys,
                                                                          monkeypatch):
    card = tmp_path / "uz-card.json"
    card.write_text(json.dumps(uz.card()), "utf-8")
    assert qalqan(kz_home, "trust", "add", "--card", card, capsys=capsys)[0] == 0
    assert qalqan(kz_home, "peer", "add", "uz", "--card", card, "--url", "http://127.0.0.1:8002/taxii2/",
                  capsys=capsys)[0] == 0
    assert qalqan(kz_home, "key", "rotate", capsys=capsys)[0] == 0
    assert qalqan(kz_home, "key", "reset", capsys=capsys)[0] == 0
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("a-long-password-1\n"))
    assert qalqan(kz_home, "user", "add", "ana", "--role", "analyst", "--password-stdin", capsys=capsys)[0] == 0

    reset = uz.reset_key()
    card.write_text(json.dumps(reset), "utf-8")
    from node.trust import card_fingerprint
    assert qalqan(kz_home, "trust", "replace", "uz", "--card", card, "--fingerprint", card_fingerprint(reset),
                  capsys=capsys)[0] == 0

    events = _events(kz_home)
    uz_id = uz.config.identity
    assert [(r["source"], uz_id in r["reason"]) for r in events["trust-added"]] == [("cli", True), ("cli", True)]
    assert [r["source"] for r in events["peer-added"]] == ["cli"] and "peer uz" in events["peer-added"][0]["reason"]
    assert [r["source"] for r in events["key-rotated"]] == ["cli"]
    assert [r["source"] for r in events["key-reset"]] == ["cli"]
    assert [r["source"] for r in events["user-added"]] == ["cli"] and "user ana" in events["user-added"][0]["reason"]
    # this node's own reset and the partner's replaced card both name who took them
    replaced = {r["object_id"]: r["source"] for r in events["trust-replaced"]}
    assert replaced == {Node(kz_home).config.identity: "cli", uz_id: "cli"}


def test_tls_init_and_trust_client_are_audited(kz_home, uz, capsys):
    assert qalqan(kz_home, "tls", "init", "--mutual", capsys=capsys)[0] == 0
    assert qalqan(uz.home, "tls", "init", capsys=capsys)[0] == 0
    assert qalqan(kz_home, "tls", "trust-client", "--ca", uz.home / "keys" / "tls-ca.pem", capsys=capsys)[0] == 0
    events = _events(kz_home)
    assert [r["source"] for r in events["tls-init"]] == ["cli"]
    assert "client certificates asked for" in events["tls-init"][0]["reason"]
    assert [r["source"] for r in events["tls-client-ca-trusted"]] == ["cli"]
    assert "Qalqan node uz CA" in events["tls-client-ca-trusted"][0]["reason"]


def test_join_audits_the_peer_and_card_it_adds_as_made_by_its_caller(kz_home, uz, tmp_path):
    from node import pairing
    invitation = pairing.invite(Node(kz_home), "uz", read=["bilateral"])
    pairing.accept(uz, invitation, by="admin root")
    events = _events(uz.home)
    assert [r["source"] for r in events["peer-added"]] == ["admin root"]
    assert [r["source"] for r in events["trust-added"]] == ["admin root"]
    assert [r["source"] for r in events["invitation-accepted"]] == ["admin root"]
    assert [r["source"] for r in _events(kz_home)["invitation-created"]] == ["cli"]


def test_trust_list_shows_a_card_name_with_control_characters_escaped(kz_home, capsys):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from node.keys import make_card
    card = make_card(f"identity--{uuid.uuid4()}", "evil\x1b[1A\x1b[2Kkz  KZ", "UZ", Ed25519PrivateKey.generate())
    Node(kz_home).trust_card(card)
    code, out, _ = qalqan(kz_home, "trust", "list", capsys=capsys)
    assert code == 0 and "\x1b" not in out
    assert f"evil\\x1b[1A\\x1b[2Kkz  KZ  UZ  {card['id']}" in out
