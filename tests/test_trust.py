"""Trust store: pinning cards, rotating keys, revoking keys."""
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.errors import InputError, SignatureError
from node.keys import make_card
from node.incident import stix_now
from node.ingest import PEER, Door
from node.signing import SigningKey, b64u_encode, key_id_of, raw_public_bytes, sign
from node.wellknown import NODE_KEYS_EXT, TLP_MARKINGS


def note(identity, key, text="hi", n=1):
    obj = {"type": "note", "spec_version": "2.1", "id": f"note--0f7e5a39-0d4c-4f6a-9a8e-2f9f4f0e{n:04d}",
           "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
           "created_by_ref": identity, "content": text, "object_refs": [identity],
           "object_marking_refs": [TLP_MARKINGS["green"]]}
    return sign(obj, SigningKey(key, identity))


def key_entry(key, **extra):
    pub = raw_public_bytes(key.public_key())
    return {"key_id": key_id_of(pub), "algorithm": "Ed25519", "public_key": b64u_encode(pub),
            "valid_from": "2026-01-01T00:00:00.000Z", **extra}


def test_a_card_must_verify_with_its_own_key(kz, uz):
    card = uz.card()
    card["name"] = "someone else"
    with pytest.raises(SignatureError):
        kz.trust.pin(card)


def test_pinning_the_same_card_twice_changes_nothing(kz, uz):
    assert kz.trust.pin(uz.card()) == "pinned"
    assert kz.trust.pin(uz.card()) == "unchanged"


def test_a_card_cannot_claim_a_key_another_node_owns(kz, uz):
    kz.trust.pin(uz.card())
    stolen = make_card("identity--5b4c3f0e-8d2a-4c1b-9e7f-2a6d1c0b9e83", "thief", "XX",
                       Ed25519PrivateKey.generate(), extra_keys=[uz.card()["extensions"][NODE_KEYS_EXT]["keys"][0]])
    with pytest.raises(InputError, match="already pinned"):
        kz.trust.pin(stolen)


def newer_card(node, keys, signed_by):
    """A newer version of `node`'s card listing `keys`, signed with `signed_by`."""
    card = {k: v for k, v in node.card().items() if k != "extensions"}
    card["modified"] = stix_now()
    card["extensions"] = {NODE_KEYS_EXT: {"extension_type": "property-extension", "country": "UZ", "keys": keys}}
    return sign(card, SigningKey(signed_by, node.config.identity))


def test_a_newer_card_signed_by_a_listed_key_rotates_in_a_new_key(kz, uz):
    kz.trust_card(uz.card())
    new_key = Ed25519PrivateKey.generate()
    old_entry = uz.card()["extensions"][NODE_KEYS_EXT]["keys"][0]
    rotated = newer_card(uz, [old_entry, key_entry(new_key)], signed_by=uz.signing_key.private_key)
    summary = kz.ingest.run([rotated], Door(PEER, source="uz"))
    assert summary.counts["accepted"] == 1
    assert kz.ingest.run([note(uz.config.identity, new_key)], Door(PEER, source="uz")).counts["accepted"] == 1


def test_a_newer_card_signed_only_by_an_unlisted_key_is_quarantined(kz, uz):
    kz.trust_card(uz.card())
    intruder = Ed25519PrivateKey.generate()
    forged = make_card(uz.config.identity, "uz", "UZ", intruder, created=uz.card()["created"])
    summary = kz.ingest.run([forged], Door(PEER, source="uz"))
    assert summary.counts["quarantined"] == 1
    assert kz.ingest.run([note(uz.config.identity, intruder)], Door(PEER, source="uz")).counts["quarantined"] == 1


def revoking_card(node):
    """A newer card of `node` that revokes its key (as of 2026-06-01) and adds a new
    one, signed by the key it revokes. Returns (old key, new key, card)."""
    old_key = node.signing_key.private_key
    new_key = Ed25519PrivateKey.generate()
    revoked_entry = dict(node.card()["extensions"][NODE_KEYS_EXT]["keys"][0], revoked="2026-06-01T00:00:00.000Z")
    return old_key, new_key, newer_card(node, [revoked_entry, key_entry(new_key)], signed_by=old_key)


def test_a_revoked_key_verifies_nothing_received_after_revocation(kz, uz):
    kz.trust_card(uz.card())
    old_key, new_key, card = revoking_card(uz)
    assert kz.trust_card(card)[0] == "rotated"
    after = kz.ingest.run([note(uz.config.identity, old_key, n=7)], Door(PEER, source="uz"))
    assert after.counts["rejected"] == 1 and "revoked" in after.failures[0].reason
    received_before = kz.ingest.run([note(uz.config.identity, old_key, n=8)], Door(PEER, source="uz"),
                                    verify_at_us=1_700_000_000_000_000)  # 2023: before the revocation
    assert received_before.counts["accepted"] == 1
    assert kz.ingest.run([note(uz.config.identity, new_key, n=9)], Door(PEER, source="uz")).counts["accepted"] == 1


def test_key_rotate_publishes_a_card_partners_accept_and_signs_with_the_new_key(kz, uz, tmp_path):
    from node.home import Node
    from conftest import incident_record
    kz.trust_card(uz.card())
    kz.add_peer("uz", uz.card(), "http://127.0.0.1:9/taxii2/")
    old_key_id = uz.signing_key.key_id
    new_key_id = uz.rotate_key(revoke_old=True)
    uz = Node(uz.home)
    assert uz.signing_key.key_id == new_key_id != old_key_id
    assert oct((uz.home / "keys" / "node.key").stat().st_mode & 0o777) == "0o600"
    uz.add_incident(incident_record())
    bundle = tmp_path / "uz.json"
    with bundle.open("w") as out:
        uz.export(out)
    with bundle.open("rb") as stream:
        summary = Node(kz.home).import_stream(stream, source="uz")
    assert summary.counts["rejected"] == 0 and summary.counts["quarantined"] == 0
    keys = {k["key_id"]: k for k in kz.store.query("SELECT key_id, revoked FROM keys")}
    assert keys[new_key_id]["revoked"] is None and keys[old_key_id]["revoked"] is not None


def test_an_interrupted_rotation_is_completed_when_the_card_was_stored(kz):
    from node.home import Node
    from node.keys import write_private as _write_private
    from node.signing import private_key_pem
    new_key = Ed25519PrivateKey.generate()
    old = kz.signing_key.private_key
    keys = [*kz.card()["extensions"][NODE_KEYS_EXT]["keys"], key_entry(new_key)]
    card = {k: v for k, v in kz.card().items() if k != "extensions"}
    card["modified"] = stix_now()
    card["extensions"] = {NODE_KEYS_EXT: {"extension_type": "property-extension", "country": "KZ", "keys": keys}}
    kz.ingest.run([sign(card, SigningKey(old, kz.config.identity))], Door(PEER, source=None))
    _write_private(kz.home / "keys" / "node.key.next", private_key_pem(new_key))  # then the crash
    assert Node(kz.home).signing_key.key_id == key_id_of(new_key.public_key())
    assert not (kz.home / "keys" / "node.key.next").exists()


def test_an_interrupted_rotation_is_dropped_when_the_card_was_not_stored(kz):
    from node.home import Node
    from node.keys import write_private as _write_private
    from node.signing import private_key_pem
    old_id = kz.signing_key.key_id
    _write_private(kz.home / "keys" / "node.key.next", private_key_pem(Ed25519PrivateKey.generate()))
    assert Node(kz.home).signing_key.key_id == old_id
    assert not (kz.home / "keys" / "node.key.next").exists()


def test_verify_does_not_let_a_card_in_the_file_impersonate_a_pinned_node(kz, uz, tmp_path):
    from node.home import Node
    kz.trust_card(uz.card())
    impostor_key = Ed25519PrivateKey.generate()
    impostor = make_card(uz.config.identity, "uz", "UZ", impostor_key, created=uz.card()["created"])
    forged = note(uz.config.identity, impostor_key)
    bundle = tmp_path / "forged.json"
    bundle.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": [impostor, forged]}))
    failures = Node(kz.home).verify_stream(lambda: bundle.open("rb"))
    assert {oid for oid, _ in failures} == {impostor["id"], forged["id"]}


def test_a_revocation_earlier_in_the_same_import_applies_to_objects_checked_by_workers(kz, uz):
    kz.trust_card(uz.card())
    old_key, new_key, card = revoking_card(uz)
    late = note(uz.config.identity, old_key, n=11)
    summary = kz.ingest.run([card, late], Door(PEER, source="uz"), batch=1, workers=2)
    assert summary.counts["accepted"] == 1 and summary.counts["rejected"] == 1
    assert "revoked" in summary.failures[0].reason


def test_after_rotate_revoke_old_an_object_signed_with_the_old_key_is_refused(kz, uz):
    from node.home import Node
    kz.trust_card(uz.card())
    old_key = uz.signing_key.private_key
    uz.rotate_key(revoke_old=True)
    Node(kz.home).trust_card(Node(uz.home).card())
    late = kz.ingest.run([note(uz.config.identity, old_key, n=21)], Door(PEER, source="uz"))
    assert late.counts["rejected"] == 1 and "revoked" in late.failures[0].reason


def test_an_incident_reusing_an_own_object_signed_with_a_revoked_key_is_stored(kz):
    # The location of the first incident was signed with the key revoked since; the
    # second incident reuses it byte for byte: it was accepted before, so it stays.
    from node.home import Node
    from conftest import incident_record
    kz.add_incident(incident_record(title="First"))
    kz.rotate_key(revoke_old=True)
    result = Node(kz.home).add_incident(incident_record(title="Second"))
    assert result.summary.counts["rejected"] == 0 and result.summary.counts["duplicate"] >= 1
