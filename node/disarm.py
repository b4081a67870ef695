"""The DISARM framework index: technique id → name, tactics, the release's STIX id;
countermeasure id → name.

A node knows DISARM with no download: the package carries a compact reference
(node/data/disarm-reference.json, derived from a DISARM Foundation STIX bundle by
scripts/build_disarm_reference.py: ids, names, tactics, STIX ids; no descriptions).
`disarm:` in config.yaml names a full bundle instead, which then wins. Reading a
bundle (for the index, for the compact reference, or to check a download before
`qalqan disarm update` installs it) goes through `parse_bundle`, so a bundle is
judged by one rule everywhere.

Countermeasures (DISARM's blue framework, `C00008`) come from a bundle's
course-of-action objects when it has them. The DISARM Foundation's STIX bundles hold
none so far, so the built-in reference lists them by id and name from the DISARM
framework's countermeasure table, and a bundle without any keeps that list
(`with_countermeasures`).
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from . import wire
from .errors import N_, ConfigError, InputError

TECHNIQUE_RE = re.compile(r"^T\d{4}(\.\d{3})?$")
TACTIC_RE = re.compile(r"^TA\d{2,4}$")
COUNTERMEASURE_RE = re.compile(r"^C\d{5}$")
REFERENCE_FORMAT = "qalqan-disarm-reference-1"
ATTRIBUTION = "DISARM Framework by the DISARM Foundation (https://www.disarm.foundation/)"
LICENCE = "CC BY-SA 4.0"
LICENCE_URL = "https://creativecommons.org/licenses/by-sa/4.0/"


class NotADisarmBundle(ValueError):
    """The data is not a DISARM STIX bundle; the message says why."""


@dataclass(frozen=True)
class Technique:
    id: str
    name: str
    stix_id: str
    tactics: tuple[str, ...]  # tactic names, in framework order


@dataclass(frozen=True)
class Countermeasure:
    id: str
    name: str
    stix_id: str | None  # its course-of-action in the release, when the release has one


@dataclass(frozen=True)
class Tactic:
    id: str
    name: str
    shortname: str


class Disarm:
    def __init__(self, techniques: dict[str, Technique] | None = None, tactics: list[Tactic] | None = None,
                 source: str = "none", release: dict | None = None, bundle: dict[str, dict] | None = None,
                 countermeasures: dict[str, Countermeasure] | None = None):
        self.techniques = techniques or {}
        self.tactics = tactics or []
        self.countermeasures = countermeasures or {}
        self.countermeasures_source = source  # "bundle", or "built-in" (a bundle without any keeps those)
        self.source = source            # "built-in" or the bundle's path
        self.release = release or {}    # what is known of the release (see compact_reference)
        self.bundle = bundle or {}      # id → object of the full bundle in config (none built in)

    @property
    def loaded(self) -> bool:
        return bool(self.techniques)

    @classmethod
    def load(cls, path: Path | None) -> "Disarm":
        """The bundle at `path` (config key `disarm`), or the built-in reference if None."""
        if path is None:
            return cls.builtin()
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"config.yaml: key 'disarm': no file at {path}") from None
        except OSError as exc:
            raise ConfigError(f"config.yaml: key 'disarm': {path} cannot be read ({exc.strerror})") from None
        try:
            objects = parse_bundle(raw)
            reference = with_countermeasures(compact_reference(objects, source_sha256=_sha256(raw)))
            disarm = cls.from_reference(reference, source=str(path))
        except NotADisarmBundle as exc:
            raise ConfigError(f"config.yaml: key 'disarm': {path} {exc}") from None
        disarm.bundle = {o["id"]: o for o in objects if isinstance(o.get("id"), str)}
        return disarm

    @classmethod
    def builtin(cls) -> "Disarm":
        return cls.from_reference(builtin_reference(), source="built-in")

    @classmethod
    def from_reference(cls, reference: dict, source: str) -> "Disarm":
        tactics = [Tactic(t["id"], t["name"], t["shortname"]) for t in reference["tactics"]]
        name_of = {t.shortname: t.name for t in tactics}
        techniques = {t["id"]: Technique(t["id"], t["name"], t["stix_id"],
                                         tuple(name_of[s] for s in t["tactics"] if s in name_of))
                      for t in reference["techniques"]}
        countermeasures = {c["id"]: Countermeasure(c["id"], c["name"], c.get("stix_id"))
                           for c in reference.get("countermeasures") or []}
        disarm = cls(techniques, tactics, source, reference.get("release"), countermeasures=countermeasures)
        disarm.countermeasures_source = reference.get("countermeasures_source", source)
        return disarm

    def check(self, technique_id: str, field: str = "disarm") -> None:
        if not isinstance(technique_id, str) or not TECHNIQUE_RE.match(technique_id):
            raise InputError.about(field, N_("%(value)r is not a DISARM technique id such as T0023 or T0023.001"),
                                    value=technique_id)
        if self.loaded and technique_id not in self.techniques:
            raise InputError.about(field, N_("%(value)s is not a technique of the loaded DISARM framework"),
                                    value=technique_id)

    def check_countermeasure(self, countermeasure_id: str, field: str = "countermeasures") -> None:
        if not isinstance(countermeasure_id, str) or not COUNTERMEASURE_RE.match(countermeasure_id):
            raise InputError(f"{field}: {countermeasure_id!r} is not a DISARM countermeasure id such as C00008")
        if countermeasure_id not in self.countermeasures:
            raise InputError(f"{field}: {countermeasure_id} is not a countermeasure of the loaded DISARM framework")

    def countermeasure_name(self, countermeasure_id: str) -> str | None:
        c = self.countermeasures.get(countermeasure_id)
        return c.name if c else None

    def release_objects(self, technique_ids: list[str]) -> list[dict]:
        """The full bundle's attack-patterns of these techniques, unchanged, each after
        the author and markings it references (those the bundle holds), each once; none
        with the built-in reference, which holds no objects."""
        chosen: dict[str, dict] = {}
        for technique_id in technique_ids:
            technique = self.techniques.get(technique_id)
            pattern = self.bundle.get(technique.stix_id) if technique else None
            if pattern is None:
                continue
            for ref in [pattern.get("created_by_ref"), *(pattern.get("object_marking_refs") or [])]:
                if isinstance(ref, str) and ref in self.bundle:
                    chosen.setdefault(ref, self.bundle[ref])
            chosen.setdefault(pattern["id"], pattern)
        return list(chosen.values())

    def name(self, technique_id: str) -> str | None:
        t = self.techniques.get(technique_id)
        return t.name if t else None

    def by_tactic(self) -> list[tuple[str, list[Technique]]]:
        """Techniques grouped by their first tactic, in framework order (for the form)."""
        groups: dict[str, list[Technique]] = {t.name: [] for t in self.tactics}
        for tech in self.techniques.values():
            groups.setdefault(tech.tactics[0] if tech.tactics else "Other", []).append(tech)
        return [(name, techs) for name, techs in groups.items() if techs]


def technique_reference(technique_id: str) -> dict:
    """The external reference that names a DISARM technique (or countermeasure) by its
    id, so a relation to it survives DISARM giving it another STIX id in a later release."""
    return {"source_name": "DISARM", "external_id": technique_id}


def builtin_reference() -> dict:
    return json.loads(resources.files(__package__).joinpath("data/disarm-reference.json").read_text("utf-8"))


def with_countermeasures(reference: dict) -> dict:
    """A bundle's compact reference, with the built-in countermeasures when the bundle
    has none (DISARM's STIX bundles carry the red framework only): countermeasure ids
    are stable across releases. `countermeasures_source` says which."""
    if reference.get("countermeasures"):
        return {**reference, "countermeasures_source": "bundle"}
    return {**reference, "countermeasures": builtin_reference()["countermeasures"],
            "countermeasures_source": "built-in"}


def parse_bundle(raw: bytes) -> list[dict]:
    """The objects of a DISARM STIX bundle, or NotADisarmBundle saying what is wrong."""
    try:
        bundle = wire.loads(raw)
    except InputError as exc:
        raise NotADisarmBundle(f"is not JSON ({exc.message})") from None
    objects = bundle.get("objects") if isinstance(bundle, dict) else None
    if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
        raise NotADisarmBundle("is not a STIX bundle (no 'objects' list)")
    if not any(o.get("type") == "x-mitre-tactic" and TACTIC_RE.match(_external_id(o, "DISARM") or "")
               for o in objects):
        raise NotADisarmBundle("holds no DISARM tactics (x-mitre-tactic objects with ids such as TA01)")
    if not any(o.get("type") == "attack-pattern" and _technique_id(o) for o in objects):
        raise NotADisarmBundle("holds no DISARM techniques (attack-patterns with ids such as T0023)")
    return objects


def compact_reference(objects: list[dict], source_sha256: str | None = None,
                      countermeasure_table: list[dict] | None = None) -> dict:
    """What a node needs of a DISARM release, and nothing it must not copy: release
    facts, attribution, tactics, techniques and countermeasures by id and name.
    Countermeasures come from the bundle's course-of-action objects (with their STIX
    ids) or, when it has none, from `countermeasure_table` ({id, name} rows of DISARM's
    countermeasure table, scripts/build_disarm_reference.py --countermeasures)."""
    tactics = sorted((_tactic(o) for o in objects if o.get("type") == "x-mitre-tactic"
                      and TACTIC_RE.match(_external_id(o, "DISARM") or "")), key=lambda t: t["id"])
    shortnames = {t["shortname"] for t in tactics}
    techniques = {}
    for obj in objects:
        ext_id = _technique_id(obj) if obj.get("type") == "attack-pattern" and not obj.get("revoked") else None
        if ext_id and isinstance(obj.get("id"), str):
            phases = [p.get("phase_name") for p in obj.get("kill_chain_phases") or [] if isinstance(p, dict)]
            techniques[ext_id] = {"id": ext_id, "name": str(obj.get("name") or ext_id), "stix_id": obj["id"],
                                  "tactics": [p for p in phases if p in shortnames]}
    countermeasures = sorted(({"id": cid, "name": str(o.get("name") or cid), "stix_id": o["id"]}
                              for o in objects if o.get("type") == "course-of-action" and not o.get("revoked")
                              and isinstance(o.get("id"), str)
                              for cid in [_external_id(o, "DISARM") or _external_id(o, "mitre-attack")]
                              if cid and COUNTERMEASURE_RE.match(cid)), key=lambda c: c["id"])
    if not countermeasures and countermeasure_table:
        countermeasures = sorted(({"id": c["id"], "name": c["name"]} for c in countermeasure_table
                                  if COUNTERMEASURE_RE.match(c["id"])), key=lambda c: c["id"])
    return {"format": REFERENCE_FORMAT, "release": _release(objects, source_sha256),
            "attribution": ATTRIBUTION, "licence": LICENCE, "licence_url": LICENCE_URL,
            "tactics": tactics, "techniques": [techniques[k] for k in sorted(techniques)],
            "countermeasures": countermeasures}


def _release(objects: list[dict], source_sha256: str | None) -> dict:
    matrix = next((o for o in objects if o.get("type") == "x-mitre-matrix"), {})
    statements = sorted({str((o.get("definition") or {}).get("statement")) for o in objects
                         if o.get("type") == "marking-definition" and (o.get("definition") or {}).get("statement")})
    dates = [o["modified"] for o in objects if isinstance(o.get("modified"), str)]
    release = {"name": matrix.get("name", "DISARM Framework"), "matrix_id": matrix.get("id"),
               "modified": max(dates) if dates else None, "marking": statements}
    if source_sha256:
        release["bundle_sha256"] = source_sha256
    return release


def _tactic(obj: dict) -> dict:
    return {"id": _external_id(obj, "DISARM"), "name": str(obj.get("name") or ""),
            "shortname": str(obj.get("x_mitre_shortname") or ""), "stix_id": obj.get("id")}


def _technique_id(obj: dict) -> str | None:
    """DISARM bundles file techniques under source 'mitre-attack' (the ATT&CK tooling
    they are built with); accept 'DISARM' too."""
    for source in ("mitre-attack", "DISARM"):
        ext_id = _external_id(obj, source)
        if ext_id and TECHNIQUE_RE.match(ext_id):
            return ext_id
    return None


def _external_id(obj: dict, source: str) -> str | None:
    for ref in obj.get("external_references") or []:
        if isinstance(ref, dict) and ref.get("source_name") == source and isinstance(ref.get("external_id"), str):
            return ref["external_id"]
    return None


def _sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
