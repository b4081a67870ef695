"""Signed-object mutation: a relay that changes the bytes of a signed object can never
get a different byte string stored under the same (id, modified).

For each kind of signed object a node emits (identity card, incident, report,
relationship, observed-data, location, threat-actor), every single-byte change of its
canonical JSON and every alternative encoding of it (keys reordered, whitespace, escaped
characters, number forms, the signature value re-encoded) is, on receipt from a trusted
peer, either rejected or accepted as exactly the canonical bytes, which are then what
is stored and served. Otherwise the genuine copy arriving later would look like
equivocation by its signer.

Receipt is verify.check, the pure part of ingest (parse strictly, shape, canonical
form, signature), so thousands of mutants cost seconds; a few alternative encodings also
go the whole way (import from the peer, TAXII GET, the genuine copy a duplicate).
"""
from __future__ import annotations

import io
import json
import re

import pytest

from conftest import incident_record
from node.app import create_app
from node.errors import QalqanError
from node.home import Node
from node.ingest import DUPLICATE, PEER
from node.policy import is_node_card
from node.signing import SIGNATURE_EXT, canonical, signature_of
from node.verify import check
from node import wire
from nodes import TAXII
from taxii_fixtures import build_world

KINDS = ("identity", "incident", "report", "relationship", "observed-data", "location", "threat-actor")
# Every byte of the smallest object gets every one of these; the others a deterministic sample.
REPLACEMENTS = tuple(range(256))
SAMPLE_STEP = 5


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    """kz with uz pinned as a partner, and one signed object of each kind uz emits
    (uz's canonical bytes of each), keyed by kind."""
    world = build_world(tmp_path_factory.mktemp("mutations"))
    uz = world.partners["uz"]
    uz.add_incident(incident_record(tlp="green", title="Überschrift «с кавычками» \u2028 \\ \"quoted\"",
                                    target_countries=["UZ"], confidence=85))
    out = io.StringIO()
    uz.export(out)
    signed = [o for o in json.loads(out.getvalue())["objects"] if signature_of(o) is not None]
    chosen = {}
    for obj in signed:
        if obj["type"] != "identity" or is_node_card(obj):  # the identity kind is the node card
            chosen.setdefault(obj["type"], obj)
    assert set(KINDS) <= set(chosen), sorted(chosen)
    return world, {kind: canonical(chosen[kind]) for kind in KINDS}


def received_as(world, data: bytes) -> bytes | None:
    """What kz would store on receiving `data` from uz: the stored bytes, or None when
    it refuses them."""
    try:
        obj = wire.loads(data)
    except QalqanError:
        return None
    if not isinstance(obj, dict):
        return None
    item = check(obj, PEER, world.node().trust.keys())
    return None if item.failed else item.data


def assert_rejected_or_identical(world, kind: str, genuine: bytes, variants) -> int:
    accepted = 0
    keys = world.node().trust.keys()
    for label, data in variants:
        try:
            obj = wire.loads(data)
        except QalqanError:
            continue
        if not isinstance(obj, dict):
            continue
        item = check(obj, PEER, keys)
        if item.failed:
            continue
        accepted += 1
        assert item.data == genuine, f"{kind}: {label} accepted as different bytes: {data[:200]!r}"
    return accepted


def single_byte_changes(data: bytes, positions, replacements):
    for i in positions:
        for value in replacements:
            if value != data[i]:
                yield f"byte {i} {data[i]:#04x}→{value:#04x}", data[:i] + bytes([value]) + data[i + 1:]


def test_every_single_byte_change_of_the_smallest_object_is_rejected(emitted):
    world, genuine = emitted
    kind = min(genuine, key=lambda k: len(genuine[k]))
    data = genuine[kind]
    accepted = assert_rejected_or_identical(world, kind, data,
                                            single_byte_changes(data, range(len(data)), REPLACEMENTS))
    assert accepted == 0  # canonical bytes changed in one place never verify


@pytest.mark.parametrize("kind", KINDS)
def test_sampled_byte_changes_of_each_kind_are_rejected(emitted, kind):
    world, genuine = emitted
    data = genuine[kind]
    start = len(kind) % SAMPLE_STEP  # a different sample per kind, the same on every run
    changes = single_byte_changes(data, range(start, len(data), SAMPLE_STEP), (0x00, 0x20, 0x22, 0x30, 0x41, 0x5c,
                                                                               0x7f, 0xc3, 0xff))
    flips = ((f"byte {i} bit {b}", data[:i] + bytes([data[i] ^ (1 << b)]) + data[i + 1:])
             for i in range(len(data)) for b in range(8))
    assert assert_rejected_or_identical(world, kind, data, changes) == 0
    assert assert_rejected_or_identical(world, kind, data, flips) == 0


# -- alternative encodings ------------------------------------------------------------

def _reordered(value, reverse: bool):
    if isinstance(value, dict):
        return {k: _reordered(value[k], reverse) for k in sorted(value, reverse=reverse)}
    if isinstance(value, list):
        return [_reordered(v, reverse) for v in value]
    return value


def _escape_letters(text: str) -> str:
    """JSON text with every ASCII letter inside strings written as \\u00XX."""
    out, in_string, escaped, hex_left = [], False, False, 0
    for ch in text:
        if in_string and not escaped and not hex_left and ch.isascii() and ch.isalpha():
            out.append(f"\\u{ord(ch):04x}" if ord(ch) % 2 else f"\\u{ord(ch):04X}")
            continue
        out.append(ch)
        if hex_left:
            hex_left -= 1
        elif escaped:
            escaped, hex_left = False, 4 if ch == "u" else 0
        elif ch == "\\" and in_string:
            escaped = True
        elif ch == '"':
            in_string = not in_string
    return "".join(out)


def _numbers(text: str, form: str) -> str:
    """Integers outside strings rewritten as 1.0, 1e0, 1E+0, 10e-1 or -0 forms."""
    def rewrite(match):
        n = match.group(0)
        return {"float": f"{n}.0", "exp": f"{n}e0", "EXP": f"{n}.000E+0", "shift": f"{n}0e-1"}[form]
    parts = re.split(r'("(?:[^"\\]|\\.)*")', text)
    return "".join(p if p.startswith('"') else re.sub(r"(?<![\w.])\d+(?![\w.])", rewrite, p) for p in parts)


def _signature_variants(obj: dict):
    value = obj["extensions"][SIGNATURE_EXT]["signature"]["value"]
    yield "signature padded", value + "=" * (-len(value) % 4 or 4)
    yield "signature with + and /", value.replace("-", "+").replace("_", "/")
    yield "signature with a newline", value[:40] + "\n" + value[40:]
    yield "signature last char changed", value[:-1] + ("A" if value[-1] != "A" else "Q")
    yield "signature trailing bits changed", value[:-1] + chr(ord(value[-1]) ^ 1)
    yield "signature in standard base64", value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4)


def alternative_encodings(data: bytes):
    obj = json.loads(data)
    text = data.decode("utf-8")
    yield "keys reversed", json.dumps(_reordered(obj, True), ensure_ascii=False, separators=(",", ":"))
    yield "keys reversed, pretty", json.dumps(_reordered(obj, True), ensure_ascii=False, indent=2)
    yield "spaces after separators", json.dumps(obj, ensure_ascii=False, sort_keys=True)
    yield "leading and trailing whitespace", " \r\n\t" + text + "\n \t"
    yield "tabs and CRLF", json.dumps(obj, ensure_ascii=False, sort_keys=True, indent="\t").replace("\n", "\r\n")
    yield "non-ASCII escaped", json.dumps(obj, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    yield "letters escaped", _escape_letters(text)
    yield "solidus escaped", text.replace("/", "\\/")
    for form in ("float", "exp", "EXP", "shift"):
        yield f"numbers as {form}", _numbers(text, form)
    yield "every form at once", _numbers(_escape_letters(json.dumps(_reordered(obj, True), ensure_ascii=True,
                                                                    indent=1)), "EXP")
    for label, value in _signature_variants(obj):
        if value == obj["extensions"][SIGNATURE_EXT]["signature"]["value"]:
            continue  # e.g. no - or _ to turn into + or /
        changed = json.loads(data)
        changed["extensions"][SIGNATURE_EXT]["signature"]["value"] = value
        yield label, json.dumps(changed, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    value = obj["extensions"][SIGNATURE_EXT]["signature"]["value"]
    yield "signature value with letters escaped", text.replace(value, _escape_letters(f'"{value}"')[1:-1])
    yield "duplicate key", text[:-1] + ',"id":' + json.dumps(obj["id"]) + "}"
    yield "BOM", "\ufeff" + text


@pytest.mark.parametrize("kind", KINDS)
def test_alternative_encodings_are_rejected_or_stored_as_the_canonical_bytes(emitted, kind):
    world, genuine = emitted
    variants = [(label, text.encode("utf-8")) for label, text in alternative_encodings(genuine[kind])]
    assert assert_rejected_or_identical(world, kind, genuine[kind], variants) > 0
    # The signature value has one encoding: any other is refused.
    for label, data in variants:
        if label.startswith("signature") and "escaped" not in label:
            assert received_as(world, data) is None, label
        if label in ("duplicate key", "BOM"):
            assert received_as(world, data) is None, label


def test_an_alternative_encoding_accepted_from_a_peer_is_relayed_byte_identical(emitted, tmp_path):
    """The whole way: uz's objects arrive at kz in an unusual encoding, kz relays them
    in the regional feed as the canonical bytes, and the genuine copies are duplicates."""
    world, genuine = emitted
    home = world.home
    node = Node(home)
    odd = "[" + ",".join(_numbers(_escape_letters(json.dumps(_reordered(json.loads(genuine[k]), True),
                                                             ensure_ascii=True, indent=1)), "float")
                         for k in KINDS) + "]"
    summary = node.import_stream(io.BytesIO(('{"objects":' + odd + "}").encode()), source="uz")
    assert summary.counts["rejected"] == 0 and summary.counts["quarantined"] == 0, summary
    for kind in KINDS:
        oid = json.loads(genuine[kind])["id"]
        assert node.store.object_json(oid).encode("utf-8") == genuine[kind], kind
    again = node.import_stream(io.BytesIO(b'{"objects":[' + b",".join(genuine[k] for k in KINDS) + b"]}"),
                               source="uz")
    assert again.counts == {**again.counts, "duplicate": len(KINDS), "rejected": 0, "accepted": 0}
    client = create_app(home).test_client()
    regional = world.feeds["regional"]
    for kind in ("incident", "report", "relationship"):
        oid = json.loads(genuine[kind])["id"]
        response = client.get(f"/taxii2/api/collections/{regional}/objects/{oid}/",
                              headers={"Accept": TAXII, **world.auth("uz")})
        assert response.status_code == 200, kind
        assert response.data.count(genuine[kind]) == 1, kind
    assert not node.store.query("SELECT * FROM audit WHERE event = 'equivocation'")


def test_the_genuine_copy_after_a_changed_one_is_not_blamed_on_its_signer(emitted):
    """A relay changes one byte of the incident: the change is rejected, the genuine copy
    is then accepted (or a duplicate), never refused as equivocation."""
    world, genuine = emitted
    node = world.node()
    data = genuine["incident"]
    i = data.index(b'"name":"') + 9
    changed = data[:i] + bytes([data[i] ^ 1]) + data[i + 1:]
    first = node.import_stream(io.BytesIO(b'{"objects":[' + changed + b"]}"), source="uz")
    assert first.counts["rejected"] == 1
    second = node.import_stream(io.BytesIO(b'{"objects":[' + data + b"]}"), source="uz")
    assert second.counts["rejected"] == 0
    assert second.counts["accepted"] + second.counts[DUPLICATE] == 1
