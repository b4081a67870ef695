"""`qalqan invite` and `qalqan join` in one process on two homes: what an invitation
carries and grants, what join adds, and every refused invitation (expired, changed,
signed by another key, accepted before, meant for another node) refused in one
sentence with exit 2 and nothing changed."""
from __future__ import annotations

import io
import json
import stat
import sys

import pytest
import yaml

from node import pairing
from node.cli import main
from node.home import Node
from node.signing import b64u_encode, canonical
from node.timefmt import now_us


def qalqan(home, *args, capsys, stdin: str | None = None) -> tuple[int, str, str]:
    """`qalqan --home HOME ARGS…` in this process: (exit code, stdout, stderr)."""
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        code = main(["--home", str(home), *map(str, args)])
    finally:
        sys.stdin = sys.__stdin__
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def kz(make_home):
    return make_home("kz", "KZ", 8001)


@pytest.fixture
def uz(make_home):
    return make_home("uz", "UZ", 8002)


def invite_uz(kz, tmp_path, capsys, *extra) -> tuple:
    out = tmp_path / "uz.invitation"
    code, stdout, err = qalqan(kz, "invite", "uz", "--read", "bilateral", "--write", "bilateral",
                               "--read", "regional", "--out", out, *extra, capsys=capsys)
    assert code == 0, err
    return out, stdout


def state(home) -> dict:
    """What join may change: config, pinned cards, files under keys/ and data/invitations.json."""
    node = Node(home)
    return {"config": (home / "config.yaml").read_text(), "cards": node.trust.cards(),
            "keys": sorted(p.name for p in (home / "keys").iterdir()),
            "used": (home / pairing.USED_FILE).exists()}


def test_invite_grants_the_feeds_makes_a_token_and_writes_a_private_signed_file(kz, tmp_path, capsys):
    path, stdout = invite_uz(kz, tmp_path, capsys)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    node = Node(kz)
    assert data["for"] == "uz" and data["from"] == {"name": "kz", "country": "KZ", "identity": node.config.identity}
    assert data["card"] == node.card() and data["discovery"] == "http://127.0.0.1:8001/taxii2/"
    assert data["api_root"] == "http://127.0.0.1:8001/taxii2/api/" and data["ca"] is None  # plain HTTP: no CA
    assert {f["alias"]: (f["read"], f["write"], f["id"]) for f in data["feeds"]} == {
        "bilateral": (True, True, node.config.feed("bilateral").id),
        "regional": (True, False, node.config.feed("regional").id)}
    assert node.peer_for_token(data["token"]) == "uz"
    assert node.config.feed("bilateral").readers == ["uz"] and node.config.feed("bilateral").writers == ["uz"]
    assert node.config.feed("regional").readers == ["uz"] and node.config.feed("regional").writers == []
    assert f"fingerprint {pairing.fingerprint(data)} " in stdout and data["token"] not in stdout
    audit = node.store.query("SELECT reason FROM audit WHERE event = 'invitation-created'")
    assert len(audit) == 1 and data["id"] in audit[0]["reason"] and data["token"] not in audit[0]["reason"]


def test_join_shows_the_inviter_and_adds_it_as_a_peer(kz, uz, tmp_path, capsys):
    path, invite_out = invite_uz(kz, tmp_path, capsys)
    fingerprint = invite_out.split("fingerprint ")[1].split(" (")[0]
    code, stdout, err = qalqan(uz, "join", path, capsys=capsys, stdin="y\n")
    assert code == 0, err
    assert "invitation from kz (KZ) at http://127.0.0.1:8001" in stdout and f"fingerprint {fingerprint}" in stdout
    assert "bilateral (read+write), regional (read)" in stdout
    data = json.loads(path.read_text())
    entry = yaml.safe_load((uz / "config.yaml").read_text())["peers"]["kz"]
    assert entry == {"url": "http://127.0.0.1:8001/taxii2/", "identity": data["card"]["id"], "token": data["token"],
                     "pull": ["bilateral", "regional"], "push": ["bilateral"]}
    node = Node(uz)
    assert node.trust.pinned_card(data["card"]["id"]) == data["card"]
    assert len(node.store.query("SELECT reason FROM audit WHERE event = 'invitation-accepted'")) == 1


def test_join_answered_no_changes_nothing(kz, uz, tmp_path, capsys):
    path, _ = invite_uz(kz, tmp_path, capsys)
    before = state(uz)
    code, stdout, _ = qalqan(uz, "join", path, capsys=capsys, stdin="n\n")
    assert code == 1 and "nothing changed" in stdout
    assert state(uz) == before


def _resign(data: dict, node: Node) -> None:
    body = {k: v for k, v in data.items() if k != "signature"}
    key = node.signing_key
    data["signature"] = {"key_id": key.key_id, "value": b64u_encode(key.private_key.sign(canonical(body)))}


def _expired(kz, uz, path, capsys):
    invitation = pairing.invite(Node(kz), "uz", read=["bilateral"], now=now_us() - 8 * pairing.DAY_US)
    pairing.write_invitation(invitation, path)


def _tampered(kz, uz, path, capsys):
    data = json.loads(path.read_text())
    data["url"] = data["discovery"] = "http://127.0.0.1:6666/taxii2/"  # a man in the middle's address
    path.write_text(json.dumps(data))


def _signed_by_another_node(kz, uz, path, capsys):
    data = json.loads(path.read_text())
    data["token"] = "qk_forged"
    _resign(data, Node(uz.parent / "mallory"))
    path.write_text(json.dumps(data))


def _used_before(kz, uz, path, capsys):
    assert qalqan(uz, "join", path, "--yes", capsys=capsys)[0] == 0


def _for_another_node(kz, uz, path, capsys):
    invitation = pairing.invite(Node(kz), "tj", read=["bilateral"])
    pairing.write_invitation(invitation, path)


@pytest.mark.parametrize("spoil, message", [
    (_expired, "the invitation expired at"),
    (_tampered, "the signature does not verify: the file was changed after it was signed"),
    (_signed_by_another_node, "not signed by a current key of the card it carries (wrong signature)"),
    (_used_before, "was already accepted at"),
    (_for_another_node, "the invitation is for a node named 'tj', this node is 'uz'"),
])
def test_a_bad_invitation_is_refused_in_one_sentence_and_changes_nothing(kz, uz, make_home, tmp_path, capsys,
                                                                         spoil, message):
    make_home("mallory", "KZ", 8003)
    path, _ = invite_uz(kz, tmp_path, capsys)
    spoil(kz, uz, path, capsys)
    capsys.readouterr()
    before = state(uz)
    code, stdout, err = qalqan(uz, "join", path, "--yes", capsys=capsys)
    assert code == 2 and stdout == ""
    assert err.startswith(f"qalqan: {path}: ") and message in err and err.count("\n") == 1
    assert state(uz) == before


@pytest.mark.parametrize("args, message", [
    (("uz", "--read", "nosuch"), "--read: no feed named 'nosuch'"),
    (("uz",), "say which feeds the partner may use"),
    (("kz", "--read", "bilateral"), "NAME: 'kz' is this node's own name"),
    (("uz", "--read", "bilateral", "--days", "0"), "--days: 0 is not between 1 and 90"),
])
def test_a_bad_invite_makes_no_token_and_grants_nothing(kz, tmp_path, capsys, args, message):
    feeds_before = {p.name: p.read_text() for p in (kz / "feeds").iterdir()}
    code, _, err = qalqan(kz, "invite", *args, "--out", tmp_path / "x.invitation", capsys=capsys)
    assert code == 2 and message in err and err.count("\n") == 1
    assert Node(kz).store.query("SELECT id FROM tokens") == []
    assert {p.name: p.read_text() for p in (kz / "feeds").iterdir()} == feeds_before
    assert not (tmp_path / "x.invitation").exists()


def test_a_new_invitation_retires_the_token_of_the_older(kz, tmp_path, capsys):
    first, _ = invite_uz(kz, tmp_path, capsys)
    second = tmp_path / "again.invitation"
    assert qalqan(kz, "invite", "uz", "--read", "bilateral", "--out", second, capsys=capsys)[0] == 0
    node = Node(kz)
    assert node.peer_for_token(json.loads(first.read_text())["token"]) is None
    assert node.peer_for_token(json.loads(second.read_text())["token"]) == "uz"


def _resigned_by_kz(change):
    def spoil(kz, uz, path, capsys):
        data = json.loads(path.read_text())
        change(data)
        _resign(data, Node(kz))
        path.write_text(json.dumps(data))
    return spoil


@pytest.mark.parametrize("change, message", [
    (lambda d: d["from"].update(country="K\x1b[2J"), "the inviting node's country 'K\\x1b[2J' is not an ISO"),
    (lambda d: d.update(url="http://127.0.0.1:8001\x1b[1A\x1b[2K"), "'url' 'http://127.0.0.1:8001\\x1b[1A"),
    (lambda d: d.update(discovery="ftp://127.0.0.1:8001/taxii2/"), "'discovery' 'ftp://"),
    (lambda d: d.update(api_root="http:///taxii2/api/"), "'api_root' 'http:///taxii2/api/' is not an http(s) URL"),
])
def test_an_invitation_signed_by_the_inviter_with_a_bad_country_or_url_is_refused(kz, uz, tmp_path, capsys,
                                                                                   change, message):
    path, _ = invite_uz(kz, tmp_path, capsys)
    _resigned_by_kz(change)(kz, uz, path, capsys)
    before = state(uz)
    code, stdout, err = qalqan(uz, "join", path, "--yes", capsys=capsys)
    assert code == 2 and stdout == "" and "\x1b" not in err
    assert message in err and err.count("\n") == 1
    assert state(uz) == before


def test_join_shows_no_control_character_an_invitation_carries(kz, tmp_path, capsys):
    path, _ = invite_uz(kz, tmp_path, capsys)
    data = json.loads(path.read_text())
    data["from"]["country"] = "\x1b[1A\x1b[2K"
    data["expires"] = "2030-01-01T00:00:00Z\x1b[1A\u202e"
    lines = pairing.describe(pairing.Invitation(data, pairing.fingerprint(data)))
    assert all(line.isprintable() for line in lines)
    assert "(\\x1b[1A\\x1b[2K)" in lines[0]


@pytest.mark.parametrize("raw, message", [
    (b"[" * 100_000 + b"]" * 100_000, "not an invitation (JSON nested deeper than"),
    (b'{"type": "qalqan-invitation", "type": "x"}', "not an invitation (duplicate key 'type'"),
])
def test_a_hostile_invitation_file_is_one_sentence(uz, tmp_path, capsys, raw, message):
    path = tmp_path / "hostile.invitation"
    path.write_bytes(raw)
    code, stdout, err = qalqan(uz, "join", path, "--yes", capsys=capsys)
    assert code == 2 and stdout == ""
    assert err.startswith(f"qalqan: {path}: {message}") and err.count("\n") == 1
