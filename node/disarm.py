"""Index of a DISARM framework STIX bundle: technique id → name, tactics, STIX id.

Without a bundle, technique ids are accepted by pattern only and shown without names.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, InputError

TECHNIQUE_RE = re.compile(r"^T\d{4}(\.\d{3})?$")


@dataclass(frozen=True)
class Technique:
    id: str
    name: str
    stix_id: str
    tactics: tuple[str, ...]  # tactic names, in framework order


@dataclass(frozen=True)
class Tactic:
    id: str
    name: str
    shortname: str


class Disarm:
    def __init__(self, techniques: dict[str, Technique] | None = None, tactics: list[Tactic] | None = None):
        self.techniques = techniques or {}
        self.tactics = tactics or []

    @property
    def loaded(self) -> bool:
        return bool(self.techniques)

    @classmethod
    def load(cls, path: Path | None) -> "Disarm":
        if path is None:
            return cls()
        try:
            bundle = json.loads(Path(path).read_text("utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config.yaml: key 'disarm': no file at {path}") from None
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(f"config.yaml: key 'disarm': {path} is not a JSON STIX bundle") from None
        objects = bundle.get("objects") if isinstance(bundle, dict) else None
        if not isinstance(objects, list):
            raise ConfigError(f"config.yaml: key 'disarm': {path} has no 'objects' list")
        tactics = []
        by_short = {}
        for obj in objects:
            if obj.get("type") == "x-mitre-tactic":
                ext_id = _external_id(obj, "DISARM") or obj.get("x_mitre_shortname", "")
                tactic = Tactic(ext_id, obj.get("name", ext_id), obj.get("x_mitre_shortname", ""))
                tactics.append(tactic)
                by_short[tactic.shortname] = tactic
        tactics.sort(key=lambda t: t.id)
        techniques = {}
        for obj in objects:
            if obj.get("type") != "attack-pattern" or obj.get("revoked"):
                continue
            ext_id = _external_id(obj, "mitre-attack") or _external_id(obj, "DISARM")
            if not ext_id or not TECHNIQUE_RE.match(ext_id):
                continue
            names = tuple(by_short[p["phase_name"]].name for p in obj.get("kill_chain_phases", [])
                          if p.get("phase_name") in by_short)
            techniques[ext_id] = Technique(ext_id, obj.get("name", ext_id), obj["id"], names)
        if not techniques:
            raise ConfigError(f"config.yaml: key 'disarm': {path} holds no DISARM techniques")
        return cls(dict(sorted(techniques.items())), tactics)

    def check(self, technique_id: str, field: str = "disarm") -> None:
        if not isinstance(technique_id, str) or not TECHNIQUE_RE.match(technique_id):
            raise InputError(f"{field}: {technique_id!r} is not a DISARM technique id such as T0023 or T0023.001")
        if self.loaded and technique_id not in self.techniques:
            raise InputError(f"{field}: {technique_id} is not a technique of the loaded DISARM framework")

    def name(self, technique_id: str) -> str | None:
        t = self.techniques.get(technique_id)
        return t.name if t else None

    def by_tactic(self) -> list[tuple[str, list[Technique]]]:
        """Techniques grouped by their first tactic, in framework order (for the form)."""
        groups: dict[str, list[Technique]] = {t.name: [] for t in self.tactics}
        for tech in self.techniques.values():
            groups.setdefault(tech.tactics[0] if tech.tactics else "Other", []).append(tech)
        return [(name, techs) for name, techs in groups.items() if techs]


def _external_id(obj: dict, source: str) -> str | None:
    for ref in obj.get("external_references", []):
        if ref.get("source_name") == source and ref.get("external_id"):
            return ref["external_id"]
    return None
