"""Signature format v1 (see docs/signing.md): Ed25519 over RFC 8785 canonical JSON.

The signature object sits inside the signed object, under our signature
property-extension; while signing, only its `value` is left out.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import InputError, SignatureError

SIGNATURE_EXT = "extension-definition--0eeeb1ca-f6b2-4576-b5a8-c210822873ab"
ALGORITHM = "Ed25519"
CANONICALIZATION = "RFC8785"


_MAX_SAFE_INT = 2**53 - 1


def canonical(obj) -> bytes:
    """RFC 8785 bytes of a JSON value; a lone surrogate or NaN is an InputError.

    STIX objects hold no floats as a rule. For values without floats, huge integers
    or keys beyond the Basic Multilingual Plane, Python's sorted compact JSON is
    byte-identical to RFC 8785 (same escapes, same key order) and many times faster
    than the rfc8785 package, which handles every other case.
    """
    try:
        if _stdlib_is_canonical(obj):
            return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
        return rfc8785.dumps(obj)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError, ValueError, TypeError) as exc:
        raise InputError(f"object cannot be canonicalised: {exc}") from None


def _stdlib_is_canonical(value) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is dict:
            for key in item:
                if type(key) is not str or (not key.isascii() and max(key) > "\uffff"):
                    return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is int:
            if not -_MAX_SAFE_INT <= item <= _MAX_SAFE_INT:
                return False
        else:
            return False
    return True


def b64u_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    """Strict: exactly one text decodes to given bytes (unpadded base64url, no other
    characters, unused trailing bits zero). A lenient decoder would let a relay change a
    signed object's bytes without breaking its signature, and the genuine copy would then
    look like an equivocation."""
    if not isinstance(text, str) or not text.isascii():
        raise ValueError("not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise ValueError("not unpadded base64url") from None
    if b64u_encode(raw) != text:
        raise ValueError("not the canonical unpadded base64url form")
    return raw


def key_id_of(public_key: Ed25519PublicKey | bytes) -> str:
    raw = public_key if isinstance(public_key, bytes) else raw_public_bytes(public_key)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class SigningKey:
    private_key: Ed25519PrivateKey
    signer: str  # identity id of the node

    @property
    def key_id(self) -> str:
        return key_id_of(self.private_key.public_key())

    def __repr__(self) -> str:  # never print key material
        return f"SigningKey(signer={self.signer!r}, key_id={self.key_id!r})"


def signature_of(obj: dict) -> dict | None:
    ext = obj.get("extensions")
    if not isinstance(ext, dict):
        return None
    entry = ext.get(SIGNATURE_EXT)
    if not isinstance(entry, dict):
        return None
    sig = entry.get("signature")
    return sig if isinstance(sig, dict) else None


def sign(obj: dict, key: SigningKey) -> dict:
    """Return a signed copy of a STIX object (a dict as stix2 serialises it)."""
    signed = copy.deepcopy(obj)
    signature = {
        "algorithm": ALGORITHM,
        "key_id": key.key_id,
        "signer": key.signer,
        "canonicalization": CANONICALIZATION,
    }
    signed.setdefault("extensions", {})[SIGNATURE_EXT] = {
        "extension_type": "property-extension",
        "signature": signature,
    }
    signature["value"] = b64u_encode(key.private_key.sign(canonical(signed)))
    return signed


def signing_input(obj: dict, canonical_bytes: bytes | None = None) -> bytes:
    """The bytes the signature covers: the canonical object without `signature.value`.

    When the canonical bytes of the whole object are at hand, the value is cut out
    of them instead of canonicalising again: in RFC 8785 order `value` is the last
    key of the signature object, and a raw `,"value":"` cannot occur inside a JSON
    string, so the needle is found exactly once in a well-formed signature.
    """
    sig = signature_of(obj)
    if sig is None:
        raise SignatureError(f"{obj.get('id')} carries no signature")
    value = sig.get("value")
    if canonical_bytes is not None and isinstance(value, str):
        needle = b',"value":' + json.dumps(value, ensure_ascii=False).encode("utf-8")
        if canonical_bytes.count(needle) == 1 and (needle + b"}") in canonical_bytes:
            return canonical_bytes.replace(needle, b"", 1)
    stripped = copy.deepcopy(obj)
    signature_of(stripped).pop("value", None)
    return canonical(stripped)


def check_signature_fields(obj: dict) -> dict:
    """Step 3 of receiving, the format part: returns the signature object or raises."""
    sig = signature_of(obj)
    oid = obj.get("id")
    if sig is None:
        raise SignatureError(f"{oid} is not signed")
    if sig.get("algorithm") != ALGORITHM:
        raise SignatureError(f"{oid}: unsupported signature algorithm {sig.get('algorithm')!r}")
    if sig.get("canonicalization") != CANONICALIZATION:
        raise SignatureError(f"{oid}: unsupported canonicalization {sig.get('canonicalization')!r}")
    if sig.get("signer") != obj.get("created_by_ref"):
        raise SignatureError(f"{oid}: signer differs from created_by_ref")
    if not isinstance(sig.get("key_id"), str) or not isinstance(sig.get("value"), str):
        raise SignatureError(f"{oid}: signature lacks key_id or value")
    return sig


def verify_with(obj: dict, public_key: Ed25519PublicKey, canonical_bytes: bytes | None = None) -> None:
    """Raise SignatureError unless `obj` carries a valid signature by `public_key`."""
    sig = check_signature_fields(obj)
    try:
        raw_sig = b64u_decode(sig["value"])
    except ValueError:
        raise SignatureError(f"{obj.get('id')}: signature value is not base64url") from None
    try:
        public_key.verify(raw_sig, signing_input(obj, canonical_bytes))
    except InvalidSignature:
        raise SignatureError(f"{obj.get('id')}: signature does not verify") from None


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("the node key is not an Ed25519 key")
    return key


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_from_b64u(text: str) -> Ed25519PublicKey:
    raw = b64u_decode(text)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key has 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)
