"""One encoding per signature: a relay cannot re-encode a signature value and keep it
valid, so the genuine copy is never mistaken for an equivocation."""
import base64
import copy

import pytest

from node.errors import SignatureError
from node.ingest import PEER, Door
from node.signing import b64u_decode, b64u_encode, signature_of, verify_with
from node.wellknown import TLP_MARKINGS


def _alternative_encodings(value: str) -> dict[str, str]:
    raw = b64u_decode(value)
    standard = base64.b64encode(raw).decode()
    last = value[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # A 64-byte signature leaves 2 unused bits in its last character: flipping them decodes
    # to the same bytes under a lenient decoder.
    same_bytes_last = next(c for c in alphabet if c != last and
                           base64.urlsafe_b64decode(value[:-1] + c + "==") == raw)
    variants = {
        "padding": value + "==",
        "junk character": value[:10] + "!" + value[10:],
        "whitespace": value[:10] + "\n" + value[10:],
        "standard alphabet": standard.rstrip("="),
        "altered trailing bits": value[:-1] + same_bytes_last,
    }
    # A signature without "-" or "_" reads the same in the standard alphabet: no variant then.
    return {name: text for name, text in variants.items() if text != value}


def test_the_strict_decoder_accepts_exactly_the_canonical_form():
    raw = bytes(range(64))
    text = b64u_encode(raw)
    assert b64u_decode(text) == raw
    assert len(_alternative_encodings(text)) == 5  # this text has "-" and "_": every kind of variant
    for name, variant in _alternative_encodings(text).items():
        with pytest.raises(ValueError):
            b64u_decode(variant)


def _note(node):
    from node.signing import sign
    obj = {"type": "note", "spec_version": "2.1", "id": "note--0f7e5a39-0d4c-4f6a-9a8e-2f9f4f0e00aa",
           "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
           "created_by_ref": node.config.identity, "content": "-+/_ probe", "object_refs": [node.config.identity],
           "object_marking_refs": [TLP_MARKINGS["green"]]}
    return sign(obj, node.signing_key)


def test_every_alternative_encoding_of_a_signature_is_rejected_and_the_genuine_copy_still_enters(kz, uz):
    kz.trust_card(uz.card())
    genuine = _note(uz)
    value = signature_of(genuine)["value"]
    for name, variant in _alternative_encodings(value).items():
        forged = copy.deepcopy(genuine)
        signature_of(forged)["value"] = variant
        with pytest.raises(SignatureError):
            verify_with(forged, uz.signing_key.private_key.public_key())
        summary = kz.ingest.run([forged], Door(PEER, source="uz"))
        assert summary.counts["rejected"] == 1, name
    summary = kz.ingest.run([genuine], Door(PEER, source="uz"))
    assert summary.counts["accepted"] == 1 and summary.counts["rejected"] == 0
