"""`qalqan verify` tells trust from validity: a signature that verifies only with a key
from a card inside the same file is "valid signature, signer not trusted" (exit 1)
unless --trust-file-cards; a card impersonating a node pinned here never lends its key."""
from __future__ import annotations

import io
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.keys import make_card
from node.signing import SigningKey, sign
from node.wellknown import TLP_MARKINGS

from conftest import run_qalqan


def note(identity: str, key, n: int = 1) -> dict:
    return sign({"type": "note", "spec_version": "2.1", "id": f"note--0f7e5a39-0d4c-4f6a-9a8e-2f9f4f0e{n:04d}",
                 "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
                 "created_by_ref": identity, "content": "forged?", "object_refs": [identity],
                 "object_marking_refs": [TLP_MARKINGS["green"]]}, SigningKey(key, identity))


def bundle_file(path, *objects) -> str:
    path.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": list(objects)}))
    return str(path)


@pytest.fixture
def az_export(make_home, tmp_path):
    """The export of a node (AZ) nobody here has pinned: its card and its own objects."""
    from node.home import Node
    az = Node(make_home("az", "AZ"))
    out = io.StringIO()
    az.add_incident({"title": "From AZ", "summary": "s", "claim": "c", "language": "ru",
                     "first_seen": "2026-11-20T08:00:00Z", "verdict": "fabricated", "tlp": "green"})
    az.export(out)
    path = tmp_path / "az.json"
    path.write_text(out.getvalue())
    return az, path


def test_a_signer_whose_card_is_only_in_the_file_is_valid_but_not_trusted(kz, az_export):
    az, path = az_export
    out = run_qalqan("verify", path, home=kz.home)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    signed = [o for o in json.loads(path.read_text())["objects"] if o.get("created_by_ref") == az.config.identity]
    assert len(lines) == len(signed) and signed
    assert all("valid signature, signer not trusted" in line and az.config.identity in line for line in lines)
    assert sorted(line.split(": ")[0] for line in lines) == sorted(o["id"] for o in signed)
    assert not any(line.startswith(f"{oid}: {oid}") for oid in (o["id"] for o in signed) for line in lines)
    trusting = run_qalqan("verify", path, "--trust-file-cards", home=kz.home)
    assert trusting.returncode == 0 and trusting.stdout.strip() == "all signatures verify"


def test_once_the_signer_is_pinned_the_same_file_verifies_without_the_flag(kz, az_export):
    az, path = az_export
    kz.trust_card(az.card())
    out = run_qalqan("verify", path, home=kz.home)
    assert out.returncode == 0 and out.stdout.strip() == "all signatures verify"


@pytest.mark.parametrize("flag", [[], ["--trust-file-cards"]])
def test_an_impostor_card_for_a_pinned_node_fails_with_or_without_the_flag(kz, uz, tmp_path, flag):
    kz.trust_card(uz.card())
    impostor_key = Ed25519PrivateKey.generate()
    impostor = make_card(uz.config.identity, "uz", "UZ", impostor_key, created=uz.card()["created"])
    forged = note(uz.config.identity, impostor_key)
    path = bundle_file(tmp_path / "forged.json", impostor, forged)
    out = run_qalqan("verify", path, *flag, home=kz.home)
    assert out.returncode == 1
    assert "signer not trusted" not in out.stdout and "all signatures verify" not in out.stdout
    failed = {line.split(":")[0] for line in out.stdout.splitlines()}
    assert failed == {impostor["id"], forged["id"]}
    assert "unknown signer key" in out.stdout


def test_a_rotation_card_of_a_pinned_node_in_the_file_is_trusted_without_the_flag(kz, uz, tmp_path):
    kz.trust_card(uz.card())
    uz.rotate_key()
    uz.add_incident({"title": "After the rotation", "summary": "s", "claim": "c", "language": "ru",
                     "first_seen": "2026-11-20T08:00:00Z", "verdict": "fabricated", "tlp": "green"})
    out = io.StringIO()
    uz.export(out)
    path = tmp_path / "uz.json"
    path.write_text(out.getvalue())
    verified = run_qalqan("verify", path, home=kz.home)
    assert verified.returncode == 0 and verified.stdout.strip() == "all signatures verify", verified.stdout
