"""The signature spec is implementable without Qalqan: docs/examples/verify.mjs (Node.js,
its built-in Ed25519 only) verifies the test vector byte for byte and objects exported
from a real node, and refuses tampered ones."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from node.wellknown import DISINFO_EXT
from conftest import incident_record, run_qalqan

REPO = Path(__file__).resolve().parent.parent
VERIFIER = REPO / "docs" / "examples" / "verify.mjs"
VECTOR = REPO / "docs" / "vectors" / "signing-v1.json"
SIGNATURE_EXT = "extension-definition--0eeeb1ca-f6b2-4576-b5a8-c210822873ab"


def run_verifier(*args) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    assert node, "Node.js is missing: .ci/run installs it (apt-get install nodejs)"
    return subprocess.run([node, str(VERIFIER), *map(str, args)], capture_output=True, text=True, timeout=60)


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return path


@pytest.fixture(scope="module")
def vector() -> dict:
    return json.loads(VECTOR.read_text("utf-8"))


def test_the_verifier_reproduces_the_test_vectors_signing_input_and_verifies_it(vector, tmp_path):
    done = run_verifier(write(tmp_path / "signed.json", vector["signed"]), "--public-key", vector["public_key_b64u"],
                        "--signing-input")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    signed = vector["signed"]
    assert lines[0] == f"OK   {signed['id']}: signed by {signed['created_by_ref']} with {vector['key_id']}"
    assert lines[1] == vector["signing_input_utf8"]
    assert lines[-1] == "1 verified, 0 failed"


@pytest.mark.parametrize("tamper, reason", [
    (lambda o: o.update(name=o["name"] + "!"), "the signature does not verify"),
    (lambda o: o["extensions"][SIGNATURE_EXT]["signature"].update(
        value=o["extensions"][SIGNATURE_EXT]["signature"]["value"] + "="), "not base64url"),
    (lambda o: o.update(created_by_ref="identity--00000000-0000-4000-8000-000000000000"),
     "signer is not the object's created_by_ref"),
])
def test_a_tampered_test_vector_fails(vector, tmp_path, tamper, reason):
    signed = json.loads(json.dumps(vector["signed"]))
    tamper(signed)
    done = run_verifier(write(tmp_path / "tampered.json", signed), "--public-key", vector["public_key_b64u"])
    assert done.returncode == 1 and f"FAIL {signed['id']}: {reason}" in done.stdout, done.stdout + done.stderr


@pytest.fixture
def exported(make_home, tmp_path) -> tuple[Path, Path, Path]:
    """(bundle, card, another node's card): `qalqan export` of a real node after
    `qalqan incident add`, with text that tests the canonical form (Cyrillic, Kazakh,
    an emoji outside the BMP, quotes, a control character, a number)."""
    home = make_home("kz", "KZ")
    record = incident_record(title="Қазақстан «шекара» жабылады 🚧", claim='Граница "закрыта"\tс завтрашнего дня',
                             confidence=7, tlp="green")
    added = run_qalqan("incident", "add", write(tmp_path / "record.json", record), home=home)
    assert added.returncode == 0, added.stderr
    out = run_qalqan("export", home=home)
    assert out.returncode == 0, out.stderr
    bundle = tmp_path / "export.json"
    bundle.write_text(out.stdout, "utf-8")
    card = tmp_path / "card.json"
    card.write_text(run_qalqan("card", home=home).stdout, "utf-8")
    other = make_home("uz", "UZ")
    other_card = tmp_path / "uz-card.json"
    other_card.write_text(run_qalqan("card", home=other).stdout, "utf-8")
    return bundle, card, other_card


def test_the_verifier_verifies_every_signed_object_a_real_node_exports(exported):
    bundle, card, _ = exported
    objects = json.loads(bundle.read_text("utf-8"))["objects"]
    signed = [o for o in objects if SIGNATURE_EXT in (o.get("extensions") or {})]
    assert {o["type"] for o in signed} >= {"incident", "report", "identity", "relationship", "observed-data"}
    for args in ([bundle, "--card", card], [bundle]):  # a pinned card, then the card inside the export
        done = run_verifier(*args)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.splitlines()[-1] == f"{len(signed)} verified, 0 failed"
        assert done.stdout.count("SKIP ") == len(objects) - len(signed)


def test_the_verifier_refuses_a_tampered_export_and_a_key_of_another_node(exported, tmp_path):
    bundle, card, other_card = exported
    data = json.loads(bundle.read_text("utf-8"))
    incident = next(o for o in data["objects"] if o["type"] == "incident")
    incident["extensions"][DISINFO_EXT]["verdict"] = "satire"
    done = run_verifier(write(tmp_path / "tampered.json", data), "--card", card)
    assert done.returncode == 1
    assert f"FAIL {incident['id']}: the signature does not verify" in done.stdout
    assert done.stdout.count("FAIL ") == 1, done.stdout
    foreign = run_verifier(bundle, "--card", other_card)
    assert foreign.returncode == 1 and "is not among the keys given" in foreign.stdout
    assert "OK " not in foreign.stdout
