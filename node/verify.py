"""The one verification routine: steps 2 and 3 of receiving an object (docs/signing.md,
"Receiving an object"), for ingest, `qalqan verify FILE` and the provenance page.

Step 1 (strict parsing) is `wire`'s job; steps 4 and 5 (versions, storing) need the
store and stay in `ingest`. Everything here is pure: it needs only the object and the
keys to verify with, so ingest can run it in worker processes, and the three callers
cannot disagree on a security rule.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from typing import Callable

import fastjsonschema

from .errors import InputError, QalqanError, RevokedKey, SignatureError, UntrustedSigner
from .sco import SCO_TYPES, check_sco_id
from .signing import canonical, signature_of
from .timefmt import is_stix_timestamp, version_key
from .trust import verify_signature
from .wellknown import EXTENSION_SCHEMAS, schema, well_known_canonical

ID_RE = re.compile(r"^([a-z0-9][a-z0-9-]{1,248})--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
OBJECT_REFS_REQUIRED = frozenset({"report", "note", "opinion", "grouping"})
ACCEPTED, DUPLICATE, QUARANTINED, REJECTED = "accepted", "duplicate", "quarantined", "rejected"
# The door that decides the one origin-dependent rule below (step 3c).
EXTERNAL = "external"  # an unsigned third-party source: stored, never relayed


# What an outcome reveals about the store, beyond the object received (taxii/status.py
# answers a poster who may not read it as if it were not held).
HELD_VERSION = "version"   # this (id, version) is held: a duplicate, an equivocation
HELD_OBJECT = "object"     # some version of this id is held: the creator rule


@dataclass
class Outcome:
    id: str | None
    version: str | None
    status: str
    reason: str = ""
    about_held: str = ""  # HELD_VERSION, HELD_OBJECT or "" (depends only on the object)


@dataclass
class Checked:
    """An object after the checks that need no store: shape, canonical form,
    well-known copy, SCO id, signature. `outcome` is set when it ends here."""

    obj: dict
    id: str | None
    version: str | None = None
    data: bytes = b""
    digest: str = ""
    key_id: str | None = None
    outcome: Outcome | None = None
    revoked_key: bool = False  # rejected only because its key was revoked since

    @property
    def failed(self) -> bool:
        """Did not verify: rejected, or signed by a key nobody pinned (quarantine)."""
        return self.outcome is not None and self.outcome.status in (REJECTED, QUARANTINED)


def check_shape(obj: dict) -> None:
    """Step 2: type, id, spec_version, timestamps, references, our extensions."""
    if not isinstance(obj, dict):
        raise InputError("an object must be a JSON object")
    otype, oid = obj.get("type"), obj.get("id")
    if not isinstance(otype, str) or not isinstance(oid, str):
        raise InputError("object lacks a string 'type' or 'id'")
    m = ID_RE.match(oid)
    if not m or m.group(1) != otype:
        raise InputError(f"{oid!r} is not a valid id for type {otype!r}")
    if obj.get("spec_version") != "2.1":
        raise InputError(f"{oid}: spec_version must be '2.1'")
    for key in ("created", "modified"):
        if key in obj and not is_stix_timestamp(obj[key]):
            raise InputError(f"{oid}: '{key}' is not a STIX timestamp")
    if otype not in SCO_TYPES and otype != "marking-definition" and "created" not in obj:
        raise InputError(f"{oid}: 'created' is required")
    if "modified" in obj and "created" in obj and version_key(obj["modified"]) < version_key(obj["created"]):
        raise InputError(f"{oid}: 'modified' is before 'created'")
    _check_refs(obj, oid)
    _check_extensions(obj, oid)


def _check_refs(obj: dict, oid: str) -> None:
    """References every node reads (markings decide where an object may go) must be ids."""
    markings = obj.get("object_marking_refs", [])
    if not isinstance(markings, list) or not all(_is_id_of(m, "marking-definition") for m in markings):
        raise InputError(f"{oid}: 'object_marking_refs' must be a list of marking-definition ids")
    if "created_by_ref" in obj and not _is_id_of(obj["created_by_ref"], "identity"):
        raise InputError(f"{oid}: 'created_by_ref' must be an identity id")
    # STIX 2.1 requires object_refs on these; a list in STIX is never empty. Indexes and
    # pages read them, so they are checked here (a regex per ref: ingest stays cheap).
    if "object_refs" in obj or obj["type"] in OBJECT_REFS_REQUIRED:
        refs = obj.get("object_refs")
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) and ID_RE.match(r) for r in refs):
            raise InputError(f"{oid}: 'object_refs' must be a non-empty list of STIX ids")


def _check_extensions(obj: dict, oid: str) -> None:
    """Qalqan's own extensions must match their JSON Schemas (node/schemas/): every node
    and every derived view reads them, so a malformed one is refused at the door."""
    extensions = obj.get("extensions")
    if not isinstance(extensions, dict):
        return  # nothing of ours in it; a signed object then fails as "not signed"
    for ext_id, content in extensions.items():
        if ext_id in EXTENSION_SCHEMAS:
            try:
                _validator(ext_id)(content)
            except fastjsonschema.JsonSchemaValueException as exc:
                # exc.name is the path from the extension's root, spelled "data.a[0].b".
                where, what = exc.name.removeprefix("data"), exc.message.removeprefix(exc.name).strip()
                raise InputError(f"{oid}: extension {EXTENSION_SCHEMAS[ext_id]} is malformed"
                                 f" at extensions[{ext_id}]{where}: {what}") from None


@cache
def _validator(ext_id: str) -> Callable[[object], object]:
    """Compiled to Python once per process: a signed object carries at least the
    signature extension, and ingest checks thousands a second (jsonschema's
    interpreter costs about ten times as much per object)."""
    return fastjsonschema.compile(schema(EXTENSION_SCHEMAS[ext_id]), use_default=False)


def _is_id_of(value, stix_type: str) -> bool:
    match = ID_RE.match(value) if isinstance(value, str) else None
    return bool(match) and match.group(1) == stix_type


def check(obj: dict, origin: str, keys: dict, at_us: int | None = None) -> Checked:
    """Steps 2 and 3 of receiving (signing.md) for one parsed object, verifying
    signatures with `keys` (key id -> trust.TrustedKey) as they are at `at_us`."""
    oid = obj.get("id") if isinstance(obj, dict) else None
    oid = oid if isinstance(oid, str) else None
    # Step 2: shape, then the canonical form every later step works on.
    try:
        check_shape(obj)
        data = canonical(obj)
    except QalqanError as exc:
        return Checked(obj if isinstance(obj, dict) else {}, oid, outcome=Outcome(oid, None, REJECTED, exc.message))
    stamp = obj.get("modified") or obj.get("created")
    version = version_key(stamp) if stamp else None
    item = Checked(obj, oid, version, data, hashlib.sha256(data).hexdigest())
    item.outcome = _step3(item, origin, keys, at_us)
    return item


def _step3(item: Checked, origin: str, keys: dict, at_us: int | None) -> Outcome | None:
    """Step 3, in signing.md's "What is signed" order; None when the object goes on."""
    obj, oid, version = item.obj, item.id, item.version
    # 3a. Well-known objects: never signed, accepted only as the built-in copy.
    builtin = well_known_canonical().get(oid)
    if builtin is not None:
        if builtin == item.data:
            return Outcome(oid, version, DUPLICATE)
        return Outcome(oid, version, REJECTED, "differs from the built-in copy of this well-known object")
    # 3b. SCOs: not signed; the id must be the deterministic one of their content.
    if obj["type"] in SCO_TYPES:
        try:
            check_sco_id(obj)
        except InputError as exc:
            return Outcome(oid, version, REJECTED, exc.message)
        return None
    # 3c. An unsigned source may not speak for a node we trust, this one included.
    if origin == EXTERNAL and signature_of(obj) is None:
        creator = obj.get("created_by_ref")
        if creator is not None and any(k.identity == creator for k in keys.values()):
            return Outcome(oid, version, REJECTED, f"unsigned object claims to be created by trusted node {creator}")
        return None
    # 3d. Everything else: signed by its creator with a pinned, unrevoked key.
    try:
        item.key_id = verify_signature(obj, keys, item.data, at_us)
    except UntrustedSigner as exc:
        return Outcome(oid, version, QUARANTINED, exc.message)
    except RevokedKey as exc:
        item.revoked_key = True
        return Outcome(oid, version, REJECTED, exc.message)
    except SignatureError as exc:
        return Outcome(oid, version, REJECTED, exc.message)
    return None
