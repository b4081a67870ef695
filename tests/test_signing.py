"""Signature format v1: the test vector, stix2 round trips, tamper detection."""
import copy
import hashlib
import json

import pytest
import stix2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.errors import SignatureError
from node.signing import SigningKey, canonical, key_id_of, sign, signing_input, verify_with
from node.wellknown import well_known_objects

from conftest import ASSETS, incident_record


def vector_key(vector):
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["private_key_seed_hex"]))


def test_the_signing_vector_is_reproduced_byte_for_byte(signing_vector):
    key = vector_key(signing_vector)
    signed = sign(signing_vector["unsigned"], SigningKey(key, signing_vector["unsigned"]["created_by_ref"]))
    assert signing_input(signed).decode("utf-8") == signing_vector["signing_input_utf8"]
    assert signed == signing_vector["signed"]
    assert key_id_of(key.public_key()) == signing_vector["key_id"]


def test_the_vector_partners_read_in_docs_is_byte_for_byte_the_one_the_tests_reproduce():
    from pathlib import Path
    repo = Path(__file__).resolve().parent.parent
    assert (repo / "docs" / "vectors" / "signing-v1.json").read_bytes() == \
        (repo / "tests" / "assets" / "signing-v1.json").read_bytes()


def test_the_documented_well_known_objects_are_the_ones_every_node_ships():
    from pathlib import Path
    documented = json.loads((Path(__file__).resolve().parent.parent / "docs" / "vectors" /
                             "well-known-v1.json").read_text("utf-8"))
    assert documented["objects"] == list(well_known_objects())


def test_the_shortcut_signing_input_equals_a_fresh_canonicalisation(signing_vector):
    signed = signing_vector["signed"]
    assert signing_input(signed, canonical(signed)) == signing_vector["signing_input_utf8"].encode("utf-8")


def test_the_vector_verifies_with_its_public_key(signing_vector):
    verify_with(signing_vector["signed"], vector_key(signing_vector).public_key())


def _string_paths(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _string_paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _string_paths(v, path + (i,))
    else:
        yield path


def _tampered(obj, path):
    copy_ = copy.deepcopy(obj)
    target = copy_
    for part in path[:-1]:
        target = target[part]
    old = target[path[-1]]
    if isinstance(old, str):
        target[path[-1]] = old[:-1] + ("x" if old[-1:] != "x" else "y") if old else "x"
    elif isinstance(old, bool):
        target[path[-1]] = not old
    elif isinstance(old, (int, float)):
        target[path[-1]] = old + 1
    else:
        target[path[-1]] = "x"
    return copy_


def test_changing_any_signed_property_breaks_the_signature(kz):
    result = kz.add_incident(incident_record())
    public = kz.signing_key.private_key.public_key()
    incident = json.loads(kz.store.object_json(result.incident_id))
    paths = [p for p in _string_paths(incident) if p[-1] != "value" or "signature" not in p]
    assert len(paths) > 20
    for path in paths:
        with pytest.raises(SignatureError):
            verify_with(_tampered(incident, path), public)


def test_adding_or_removing_a_property_breaks_the_signature(kz):
    result = kz.add_incident(incident_record())
    public = kz.signing_key.private_key.public_key()
    incident = json.loads(kz.store.object_json(result.incident_id))
    added = dict(incident, labels=["extra"])
    removed = {k: v for k, v in incident.items() if k != "confidence"}
    for changed in (added, removed):
        with pytest.raises(SignatureError):
            verify_with(changed, public)


def test_every_object_type_the_node_emits_survives_a_stix2_round_trip(kz):
    result = kz.add_incident(incident_record())
    emitted = [json.loads(r["json"]) for r in kz.store.query("SELECT json FROM objects")]
    types = {o["type"] for o in emitted}
    assert {"report", "incident", "observed-data", "relationship", "location", "threat-actor", "identity",
            "url", "domain-name", "user-account", "file", "marking-definition", "extension-definition"} <= types
    public = kz.signing_key.private_key.public_key()
    for obj in emitted:
        parsed = stix2.parse(obj, allow_custom=True)
        if obj["type"] in ("narrative", "channel"):
            # OpenCTI's types: stix2 passes them on as they are, or as pycti's classes when
            # pycti (which registers them, with defaults of its own) is loaded; either way
            # they parse, and what is checked is the object as emitted.
            verify_with(obj, public)
            continue
        again = json.loads(parsed.serialize())
        assert again == obj, obj["type"]
        assert canonical(again) == canonical(obj)
        if obj.get("created_by_ref") == kz.config.identity:
            verify_with(again, public)
    assert result.report_id.startswith("report--")


def test_well_known_objects_are_unsigned_and_stable():
    for obj in well_known_objects():
        assert "created_by_ref" not in obj or obj["created_by_ref"].startswith("identity--d8bd5a9a")
        assert "extension-definition--0eeeb1ca-f6b2-4576-b5a8-c210822873ab" not in obj.get("extensions", {})
    # Partners compare received copies with their own byte for byte: the bytes are frozen.
    frozen = json.loads((ASSETS / "well-known-sha256.json").read_text("utf-8"))
    assert {o["id"]: hashlib.sha256(canonical(o)).hexdigest() for o in well_known_objects()} == frozen


def test_the_fast_canonical_form_equals_rfc8785_on_every_emitted_object(kz):
    import rfc8785
    kz.add_incident(incident_record(title="Ключ «ё» \u2028 \x7f tab\t \U0001F600 emoji"))
    for row in kz.store.query("SELECT json FROM objects"):
        obj = json.loads(row["json"])
        assert canonical(obj) == rfc8785.dumps(obj)


@pytest.mark.parametrize("value", [
    {"b": 1, "a": [True, None, -5, "x\u0000\u001f\"\\/"]},
    {"\U0001F600": 1, "\uffff": 2, "z": 3},   # key order differs between code points and UTF-16
    {"n": 1.5, "m": 1e21, "k": -0.0},
    {"big": 2**53 - 1},
    {"\u00e9": "\u00e9", "e\u0301": "e\u0301"},
])
def test_canonical_agrees_with_the_rfc8785_package(value):
    import rfc8785
    assert canonical(value) == rfc8785.dumps(value)


def test_numbers_that_rfc8785_cannot_represent_are_refused():
    from node.errors import InputError
    with pytest.raises(InputError):
        canonical({"n": 2**60})
    with pytest.raises(InputError):
        canonical({"n": float("nan")})
