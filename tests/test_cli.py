"""End-to-end: the `qalqan` command on two homes (KZ and UZ) exchanging an incident by file."""
import json
import os
import shutil
import stat

import pytest
import yaml

from conftest import incident_record, run_qalqan, set_config


@pytest.fixture(scope="module")
def partners(tmp_path_factory):
    """KZ and UZ made and introduced through the CLI, once per module; `homes` hands
    each test a copy, so a test may change them."""
    base = tmp_path_factory.mktemp("partners")
    kz, uz = base / "kz", base / "uz"
    out = run_qalqan("init", "--name", "kz", "--country", "KZ", "--url", "http://127.0.0.1:8101", home=kz)
    assert out.returncode == 0, out.stderr
    assert "identity--" in out.stdout and "sha256:" in out.stdout
    assert run_qalqan("--home", str(uz), "init", "--name", "uz", "--country", "UZ").returncode == 0
    (base / "kz.card").write_text(run_qalqan("card", home=kz).stdout)
    (base / "uz.card").write_text(run_qalqan("card", home=uz).stdout)
    assert run_qalqan("peer", "add", "uz", "--card", base / "uz.card", "--url", "http://127.0.0.1:8102/taxii2/",
                      "--token-env", "UZ_TOKEN", "--pull", "regional", home=kz).returncode == 0
    assert run_qalqan("peer", "add", "kz", "--card", base / "kz.card", "--url", "http://127.0.0.1:8101/taxii2/",
                      "--pull", "bilateral", home=uz).returncode == 0
    return base


@pytest.fixture
def homes(partners, tmp_path):
    for name in ("kz", "uz"):
        shutil.copytree(partners / name, tmp_path / name)  # keeps the 0600/0700 modes
        shutil.copy2(partners / f"{name}.card", tmp_path / f"{name}.card")
    return tmp_path / "kz", tmp_path / "uz"


def az_id(home):
    return yaml.safe_load((home / "config.yaml").read_text())["node"]["identity"]


@pytest.fixture(scope="module")
def stranger(tmp_path_factory):
    """A node nobody has pinned (AZ), and the export of an incident it recorded."""
    base = tmp_path_factory.mktemp("stranger")
    az = base / "az"
    run_qalqan("init", "--name", "az", "--country", "AZ", home=az)
    run_qalqan("incident", "add", write_record(base / "inc.yaml", disarm=[]), home=az)
    bundle = base / "az.json"
    bundle.write_text(run_qalqan("export", home=az).stdout)
    return az, bundle


def write_record(path, **overrides):
    path.write_text(yaml.safe_dump(incident_record(**overrides), allow_unicode=True), "utf-8")
    return path


def test_init_writes_a_private_key_readable_only_by_its_owner(homes):
    kz, _ = homes
    mode = stat.S_IMODE(os.stat(kz / "keys" / "node.key").st_mode)
    assert mode == 0o600
    assert (kz / "keys" / "node.key").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert {p.name for p in (kz / "feeds").iterdir()} == {"bilateral.yaml", "regional.yaml", "public.yaml"}


def test_init_refuses_to_overwrite_an_existing_key(homes, qalqan):
    kz, _ = homes
    out = qalqan("init", "--name", "kz", "--country", "KZ", home=kz)
    assert out.returncode == 2 and "refusing to overwrite" in out.stderr


def test_the_card_is_the_signed_identity_itself(homes, qalqan):
    kz, _ = homes
    card = json.loads(qalqan("card", home=kz).stdout)
    assert card["type"] == "identity" and card["created_by_ref"] == card["id"]


def test_an_incident_travels_from_kz_to_uz_by_file_and_verifies_there(homes, qalqan, tmp_path):
    kz, uz = homes
    out = qalqan("incident", "add", write_record(tmp_path / "inc.yaml"), home=kz)
    assert out.returncode == 0, out.stderr
    report_id, incident_id = out.stdout.split()
    assert report_id.startswith("report--") and incident_id.startswith("incident--")
    bundle = tmp_path / "kz.json"
    bundle.write_text(qalqan("export", home=kz).stdout)
    verify = qalqan("verify", bundle, home=uz)
    assert verify.returncode == 0, verify.stdout
    imported = qalqan("import", bundle, "--from", "kz", home=uz)
    assert imported.returncode == 0, imported.stderr
    assert "rejected 0" in imported.stdout and "quarantined 0" in imported.stdout
    again = json.loads(qalqan("export", "--all", home=uz).stdout)
    original = json.loads(bundle.read_text())
    held = {o["id"]: o for o in again["objects"]}
    assert all(held[o["id"]] == o for o in original["objects"])
    status = qalqan("status", home=uz).stdout
    assert "incident 1" in status and "report 1" in status


def test_a_tampered_copy_is_rejected_and_named(homes, qalqan, tmp_path):
    kz, uz = homes
    qalqan("incident", "add", write_record(tmp_path / "inc.yaml"), home=kz)
    bundle = json.loads(qalqan("export", home=kz).stdout)
    incident = next(o for o in bundle["objects"] if o["type"] == "incident")
    incident["name"] = "Nothing to see here"
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(bundle))
    verify = qalqan("verify", path, home=uz)
    assert verify.returncode == 1 and incident["id"] in verify.stdout
    imported = qalqan("import", path, "--from", "kz", home=uz)
    assert imported.returncode == 1 and "rejected 1" in imported.stdout
    exported = json.loads(qalqan("export", "--all", home=uz).stdout)
    assert incident["id"] not in {o["id"] for o in exported["objects"]}


def test_an_unknown_signer_is_quarantined_then_released_by_trust_add(homes, stranger, qalqan, tmp_path):
    kz, uz = homes
    az, bundle = stranger
    imported = qalqan("import", bundle, home=uz)
    signed_by_az = sum(1 for o in json.loads(bundle.read_text())["objects"] if o.get("created_by_ref") == az_id(az))
    assert imported.returncode == 0 and f"quarantined {signed_by_az}," in imported.stdout
    assert f"quarantine: {signed_by_az};" in qalqan("status", home=uz).stdout
    (tmp_path / "az.card").write_text(qalqan("card", home=az).stdout)
    released = qalqan("trust", "add", "--card", tmp_path / "az.card", home=uz)
    assert released.returncode == 0 and "quarantine re-verified" in released.stdout
    assert "quarantine: 0" in qalqan("status", home=uz).stdout


def test_verify_checks_signatures_with_cards_found_inside_the_file_but_does_not_trust_them(homes, stranger, qalqan):
    kz, uz = homes
    az, bundle = stranger
    untrusted = qalqan("verify", bundle, home=uz)
    assert untrusted.returncode == 1 and "valid signature, signer not trusted" in untrusted.stdout
    assert qalqan("verify", bundle, "--trust-file-cards", home=uz).returncode == 0


@pytest.mark.parametrize("content, message", [
    (b"title: [unclosed", "not valid YAML"),
    (b"\xff\xfe title", "not UTF-8"),
    (b"- just\n- a list\n", "mapping"),
    (b"title: a\ntitle: b\n", "appears twice"),
])
def test_bad_record_files_exit_2_with_one_sentence_and_store_nothing(homes, qalqan, tmp_path, content, message):
    kz, _ = homes
    before = qalqan("status", "--json", home=kz).stdout
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    out = qalqan("incident", "add", path, home=kz)
    assert out.returncode == 2 and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert qalqan("status", "--json", home=kz).stdout == before


def test_an_oversized_record_file_is_refused(homes, qalqan, tmp_path):
    kz, _ = homes
    path = tmp_path / "big.yaml"
    path.write_text("summary: " + "x" * 2_000_000)
    out = qalqan("incident", "add", path, home=kz)
    assert out.returncode == 2 and "too large" in out.stderr


def test_a_record_with_a_bad_field_names_it(homes, qalqan, tmp_path):
    kz, _ = homes
    out = qalqan("incident", "add", write_record(tmp_path / "r.yaml", first_seen="soon"), home=kz)
    assert out.returncode == 2 and out.stderr.startswith("qalqan: first_seen:")


def test_a_truncated_import_stores_nothing(homes, qalqan, tmp_path):
    kz, uz = homes
    qalqan("incident", "add", write_record(tmp_path / "inc.yaml"), home=kz)
    text = qalqan("export", home=kz).stdout
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) - 40])
    before = qalqan("status", "--json", home=uz).stdout
    out = qalqan("import", path, "--from", "kz", home=uz)
    assert out.returncode == 2 and "malformed JSON" in out.stderr
    assert qalqan("status", "--json", home=uz).stdout == before


@pytest.mark.parametrize("key, value, message", [
    ("server.port", "eighty", "key 'server.port'"),
    ("default_tlp", "purple", "key 'default_tlp'"),
    ("node.country", "Kazakhstan", "key 'node.country'"),
    ("colour", "red", "key 'colour'"),
])
def test_a_broken_config_names_the_key(homes, qalqan, key, value, message):
    kz, _ = homes
    set_config(kz, key, value)
    out = qalqan("status", home=kz)
    assert out.returncode == 2 and message in out.stderr and "config.yaml" in out.stderr


def test_home_is_accepted_before_and_after_the_subcommand(homes, qalqan):
    kz, _ = homes
    assert qalqan("--home", str(kz), "status").returncode == 0
    assert qalqan("status", "--home", str(kz)).returncode == 0


def test_token_create_prints_the_secret_as_the_last_word(homes, qalqan):
    kz, _ = homes
    out = qalqan("token", "create", "uz", home=kz)
    secret = out.stdout.strip().splitlines()[-1].split()[-1]
    assert len(secret) > 30
    from node.home import Node
    assert Node(kz).peer_for_token(secret) == "uz"
    assert secret not in (kz / "data" / "qalqan.db").read_bytes().decode("latin-1")


def test_config_and_data_are_readable_by_the_owner_only(homes):
    kz, _ = homes
    assert stat.S_IMODE(os.stat(kz / "config.yaml").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(kz / "data").st_mode) == 0o700


def test_a_config_change_that_does_not_validate_is_undone(homes):
    from node.config import update_config
    from node.errors import ConfigError
    kz, _ = homes
    before = (kz / "config.yaml").read_text()
    with pytest.raises(ConfigError):
        update_config(kz, lambda data: data["server"].update(port="eighty"))
    assert (kz / "config.yaml").read_text() == before
