"""The lost-key drill with three real nodes (KZ, UZ, AZ): KZ resets its key, UZ (a
direct peer) and AZ (which pinned KZ by hand and hears of it through UZ's relay) take
the new card with `trust replace` and its fingerprint; what KZ signed before the
revocation still verifies, a newer object signed with the old key is refused."""
import json

import pytest

from node.home import Node
from node.signing import SigningKey, load_private_key
from node.web.provenance import provenance_of

from conftest import incident_record
from sync_fixtures import Network, quarantined_ids, run, signed_notes, stored_json, taxii_post


@pytest.fixture
def net(tmp_path):
    net = Network(tmp_path, {"kz": "KZ", "uz": "UZ", "az": "AZ"})
    net.link("kz", "uz", ["bilateral", "regional"])
    net.link("uz", "az", ["regional"])
    net.pin("az", "kz")
    net.start()
    yield net
    net.stop()


def sync(net, *names):
    for name in names:
        out = net[name].sync()
        assert out.returncode == 0, out.stderr


def verifies_at(home, object_id) -> bool:
    node = Node(home)
    stored = node.store.one("SELECT * FROM objects WHERE id = ? AND latest = 1", [object_id])
    return provenance_of(node, json.loads(stored["json"]), stored).verified


def replace(net, who, name, card_path, fingerprint):
    return run("trust", "replace", name, "--card", card_path, "--fingerprint", fingerprint, "--home", net[who].home)


def test_kz_resets_its_key_and_uz_and_az_take_the_new_card_by_fingerprint(net, tmp_path):
    kz, uz, az = net["kz"], net["uz"], net["az"]
    _, before = kz.add_incident(tmp_path, **incident_record(tlp="green", title="Before the loss"))
    sync(net, "uz", "az")
    assert stored_json(az.home, before) == stored_json(kz.home, before)
    old_key_file = kz.home / "keys" / "node.key"
    old_key = SigningKey(load_private_key(old_key_file.read_bytes()), kz.node().config.identity)
    old_key_file.unlink()  # lost

    out = run("key", "reset", "--home", kz.home)
    assert out.returncode == 0, out.stderr
    fingerprint = next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("fingerprint "))
    assert run("card", "--fingerprint", "--home", kz.home).stdout.strip() == fingerprint
    assert oct((kz.home / "keys" / "node.key").stat().st_mode & 0o777) == "0o600"
    card_path = tmp_path / "kz-new-card.json"
    card_path.write_text(run("card", "--home", kz.home).stdout)
    _, after = kz.add_incident(tmp_path, **incident_record(tlp="green", title="After the reset"))

    # Partners do not take the new card on their own: signed by an unknown key, it waits.
    sync(net, "uz")
    assert after in quarantined_ids(uz.home)
    assert stored_json(uz.home, after) is None

    wrong = replace(net, "uz", "kz", card_path, "sha256:" + "0" * 64)
    assert wrong.returncode == 2 and "does not match the card's fingerprint" in wrong.stderr
    out = replace(net, "uz", "kz", card_path, fingerprint.upper().replace("SHA256:", ""))
    assert out.returncode == 0, out.stderr
    assert "replaced" in out.stdout and "quarantine re-verified" in out.stdout
    assert stored_json(uz.home, after) == stored_json(kz.home, after)
    audit = Node(uz.home).store.query("SELECT event FROM audit WHERE event = 'trust-replaced'")
    assert audit == [{"event": "trust-replaced"}]

    # AZ pinned KZ by hand: the new card and incident reach it through UZ and wait until AZ replaces too.
    sync(net, "az")
    assert after in quarantined_ids(az.home)
    out = replace(net, "az", "kz", card_path, fingerprint)
    assert out.returncode == 0, out.stderr
    assert stored_json(az.home, after) == stored_json(kz.home, after)

    # What KZ signed before the revocation still verifies, at both partners.
    assert verifies_at(uz.home, before) and verifies_at(az.home, before)
    assert verifies_at(uz.home, after) and verifies_at(az.home, after)

    # Whoever holds the old key cannot sign anything newer.
    [forged] = signed_notes(kz.node(), 1)
    from node.signing import sign
    forged = sign(forged, old_key)
    token = uz.node().create_token("kz", keep_old=True)
    status = taxii_post(f"{uz.discovery}api/collections/{uz.feed_id('regional')}/objects/", [forged], token=token)
    assert status["failure_count"] == 1 and "revoked" in status["failures"][0]["message"]
    bundle = tmp_path / "forged.json"
    bundle.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": [forged]}))
    out = run("import", bundle, "--from", "uz", "--home", az.home)
    assert stored_json(az.home, forged["id"]) is None and "rejected 1" in out.stdout + out.stderr

    # Nor a newer card: a version of KZ's card that adds the thief's key, signed with the old key.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from node.keys import next_card
    reset_card = json.loads(card_path.read_text())
    thief_card = next_card(reset_card, old_key, Ed25519PrivateKey.generate(), revoke_old=False)
    status = taxii_post(f"{uz.discovery}api/collections/{uz.feed_id('regional')}/objects/", [thief_card],
                        token=token)
    assert status["failure_count"] == 1
    assert json.loads(stored_json(uz.home, reset_card["id"])) == reset_card


def test_trust_replace_refuses_a_card_of_another_node_and_a_node_not_pinned(net, tmp_path):
    uz_card = tmp_path / "uz.json"
    uz_card.write_text(json.dumps(net["uz"].card()))
    out = replace(net, "az", "kz", uz_card, "sha256:" + "0" * 64)
    assert out.returncode == 2 and "not of kz" in out.stderr
    out = replace(net, "kz", "nobody", uz_card, "sha256:" + "0" * 64)
    assert out.returncode == 2 and "nobody: no peer or pinned node" in out.stderr
