"""What MISP keeps of an incident: machine-tag labels and a report description.

MISP (its misp-stix import, and the native feed of node/misp/feed.py) turns a STIX
report into an event, the report's labels into the event's tags and its description
into an event report; it has no place for a STIX `incident`. So the report and the
incident carry as labels:

- `qalqan:verdict="…"`, `qalqan:platform="…"`, `qalqan:target-country="…"`: the
  machine-tag taxonomy `qalqan`, shipped as MISP's machinetag.json in
  node/misp/taxonomies/qalqan/ (an operator adds it to MISP's taxonomies);
- `misp-galaxy:disarm-techniques="<name>"`: the technique as MISP's own DISARM galaxy
  names it (node/misp/disarm-techniques.json, from pymispgalaxies by
  scripts/build_misp_disarm_names.py); a technique that galaxy lacks gets no tag;

and the report's description ends with the claim, the verdict, the confidence, the
DISARM techniques and the fact-check URL (docs/data-model.md).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable

NAMESPACE = "qalqan"
GALAXY = "disarm-techniques"


@lru_cache(maxsize=1)
def taxonomy() -> dict:
    """The `qalqan` taxonomy, in MISP's machinetag.json format."""
    text = resources.files("node.misp").joinpath("taxonomies", NAMESPACE, "machinetag.json").read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def misp_disarm_names() -> dict[str, str]:
    """DISARM technique id → its value in MISP's disarm-techniques galaxy."""
    text = resources.files("node.misp").joinpath("disarm-techniques.json").read_text("utf-8")
    return json.loads(text)["names"]


def machine_tag(predicate: str, value: str) -> str:
    return f'{NAMESPACE}:{predicate}="{value}"'


def galaxy_tag(technique_id: str) -> str | None:
    name = misp_disarm_names().get(technique_id)
    return f'misp-galaxy:{GALAXY}="{name}"' if name else None


def labels(verdict: str, platforms: Iterable[str] = (), countries: Iterable[str] = (),
           techniques: Iterable[str] = ()) -> list[str]:
    """The labels of an incident and its report, in a stable order."""
    found = [machine_tag("verdict", verdict)]
    found += [machine_tag("platform", p) for p in platforms]
    found += [machine_tag("target-country", c) for c in countries]
    found += [tag for tag in map(galaxy_tag, techniques) if tag]
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class Finding:
    """What the analyst concluded, as MISP users read it."""

    verdict: str
    claim: str | None = None
    confidence: int | None = None
    fact_check_url: str | None = None
    techniques: tuple[str, ...] = ()  # "T0023 Distort Facts"

    def text(self) -> str:
        lines = []
        if self.claim:
            lines.append(f"Claim: {self.claim}")
        lines.append(f"Verdict: {self.verdict}")
        if self.confidence is not None:
            lines.append(f"Confidence: {self.confidence}/100")
        if self.techniques:
            lines.append("DISARM techniques: " + "; ".join(self.techniques))
        if self.fact_check_url:
            lines.append(f"Fact check: {self.fact_check_url}")
        return "\n".join(lines)


def report_description(summary: str, finding: Finding) -> str:
    """The report's description: the summary, then the finding."""
    return f"{summary}\n\n{finding.text()}"


@dataclass(frozen=True)
class ForMisp:
    labels: list[str]
    report_description: str


def named(techniques: Iterable[str], name_of) -> tuple[str, ...]:
    """"T0023 Distort Facts" for each technique id (the id alone when unnamed)."""
    return tuple(f"{t} {name_of(t)}" if name_of(t) else t for t in techniques)


def for_record(record, disarm) -> ForMisp:
    """What build() puts on the incident and report of a validated record."""
    finding = Finding(verdict=record.verdict, claim=record.claim, confidence=record.confidence,
                      fact_check_url=record.fact_check_url, techniques=named(record.disarm, disarm.name))
    return ForMisp(labels(record.verdict, record.platforms, record.target_countries, record.disarm),
                   report_description(record.summary, finding))
