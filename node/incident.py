"""Incident record (web form or YAML/JSON file) → signed STIX 2.1 objects.

The record's field names are a contract (docs/data-model.md); `validate` names
the field of every problem, `build` maps a valid record onto STIX objects with the
stix2 library, and the caller signs and ingests them.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import urlsplit

import stix2

from .countries import is_country, location_properties
from .disarm import Disarm, technique_reference
from .errors import N_, InputError
from .fimi import fimi_objects
from .misp import tags as misp_tags
from .platforms import account_type
from .policy import TLP_ORDER
from .signing import SIGNATURE_EXT
from .timefmt import parse_record_time
from .wellknown import DISINFO_EXT, INCIDENT_CORE_EXT, INCIDENT_TIMES_EXT, TLP_MARKINGS

VERDICTS = ("false", "misleading", "manipulated", "fabricated", "satire", "unverified")
# A verdict in words, for people (the UI translates it; the stored value never changes).
VERDICT_LABELS = {"false": N_("False"), "misleading": N_("Misleading"), "manipulated": N_("Manipulated"),
                  "fabricated": N_("Fabricated"), "satire": N_("Satire"), "unverified": N_("Unverified")}
FIELDS = ("title", "summary", "claim", "language", "first_seen", "last_seen", "platforms", "target_countries",
          "disarm", "urls", "accounts", "media_sha256", "verdict", "confidence", "fact_check_url",
          "threat_actor", "tlp", "share")
REQUIRED = ("title", "summary", "language", "first_seen", "verdict")
LANG_RE = re.compile(r"^[a-z]{2}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
PLATFORM_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_TEXT = 20_000


@dataclass
class Record:
    title: str
    summary: str
    language: str
    first_seen: str
    verdict: str
    tlp: str
    claim: str | None = None
    last_seen: str | None = None
    platforms: list[str] = field(default_factory=list)
    target_countries: list[str] = field(default_factory=list)
    disarm: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    accounts: list[dict] = field(default_factory=list)
    media_sha256: list[str] = field(default_factory=list)
    confidence: int | None = None
    fact_check_url: str | None = None
    threat_actor: str | None = None
    share: list[str] | None = None


def _text(data: dict, name: str, required: bool, limit: int = MAX_TEXT) -> str | None:
    value = data.get(name)
    if value is None or (isinstance(value, str) and value.strip() == "" and not required):
        if required:
            raise InputError.about(name, N_("this field is required"))
        return None
    if not isinstance(value, str):
        raise InputError.about(name, N_("expected text, got %(kind)s"), kind=type(value).__name__)
    if value.strip() == "":
        raise InputError.about(name, N_("this field is required"))
    if len(value) > limit:
        raise InputError.about(name, N_("longer than %(limit)d characters"), limit=limit)
    return value


def _list(data: dict, name: str) -> list:
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError.about(name, N_("expected a list"))
    return value


def _url(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) > 2048:
        raise InputError.about(name, N_("%(value)r is not a URL"), value=value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise InputError.about(name, N_("%(value)r is not an http(s) URL"), value=value)
    return value


def seen_times(data: dict) -> tuple[str, str | None]:
    """`first_seen` (required) and `last_seen` (not before it) of a record, as STIX times."""
    if data.get("first_seen") in (None, ""):
        raise InputError.about("first_seen", N_("this field is required"))
    first_seen = parse_record_time(data["first_seen"], "first_seen")
    last_seen = None
    if data.get("last_seen") not in (None, ""):
        last_seen = parse_record_time(data["last_seen"], "last_seen")
        if last_seen < first_seen:
            raise InputError.about("last_seen", N_("earlier than first_seen"))
    return first_seen, last_seen


def valid_accounts(data: dict) -> list[dict]:
    accounts = []
    for a in _list(data, "accounts"):
        if not isinstance(a, dict) or set(a) != {"platform", "login"}:
            raise InputError.about("accounts", N_("each account is a mapping with exactly 'platform' and 'login'"))
        if not isinstance(a["platform"], str) or not PLATFORM_RE.match(a["platform"]):
            raise InputError.about("accounts", N_("%(value)r is not a platform name"), value=a["platform"])
        if not isinstance(a["login"], str) or not a["login"].strip() or len(a["login"]) > 256:
            raise InputError.about("accounts", N_("login must be non-empty text"))
        accounts.append({"platform": a["platform"], "login": a["login"]})
    return accounts


def validate(data: Any, disarm: Disarm, default_tlp: str, feed_names: set[str] | None = None) -> Record:
    """Check an incident record; raise InputError naming the first bad field."""
    if not isinstance(data, dict):
        raise InputError("an incident record must be a mapping of field names to values")
    for key in data:
        if key not in FIELDS:
            raise InputError(f"{key}: unknown field (known: {', '.join(FIELDS)})")
    title = _text(data, "title", True, 300)
    summary = _text(data, "summary", True)
    claim = _text(data, "claim", False)
    language = data.get("language")
    if language is None or language == "":
        raise InputError.about("language", N_("this field is required"))
    if not isinstance(language, str) or not LANG_RE.match(language):
        raise InputError.about("language", N_("%(value)r is not an ISO 639-1 code such as kk, uz or ru"), value=language)
    first_seen, last_seen = seen_times(data)
    verdict = data.get("verdict")
    if verdict is False:  # YAML reads an unquoted `false` as a boolean
        verdict = "false"
    if verdict in (None, ""):
        raise InputError.about("verdict", N_("this field is required"))
    if verdict not in VERDICTS:
        raise InputError.about("verdict", N_("%(value)r is not one of %(allowed)s"), value=verdict,
                                allowed=", ".join(VERDICTS))
    tlp = data.get("tlp") or default_tlp
    if tlp not in TLP_ORDER:
        raise InputError.about("tlp", N_("%(value)r is not one of %(allowed)s"), value=tlp, allowed=", ".join(TLP_ORDER))
    platforms = _list(data, "platforms")
    for p in platforms:
        if not isinstance(p, str) or not PLATFORM_RE.match(p):
            raise InputError.about("platforms", N_("%(value)r is not a platform name such as telegram or tiktok"), value=p)
    countries = _list(data, "target_countries")
    for c in countries:
        if not isinstance(c, str) or not COUNTRY_RE.match(c) or not is_country(c):
            raise InputError.about("target_countries", N_("%(value)r is not an ISO 3166-1 alpha-2 code such as KZ"),
                                    value=c)
    techniques = _list(data, "disarm")
    for t in techniques:
        disarm.check(t)
    urls = [_url(u, "urls") for u in _list(data, "urls")]
    accounts = valid_accounts(data)
    hashes = []
    for h in _list(data, "media_sha256"):
        if not isinstance(h, str) or not SHA256_RE.match(h.lower()):
            raise InputError.about("media_sha256", N_("%(value)r is not a SHA-256 hash (64 hex digits)"), value=h)
        hashes.append(h.lower())
    confidence = data.get("confidence")
    if confidence in ("",):
        confidence = None
    if confidence is not None:
        if isinstance(confidence, str) and confidence.isdigit():
            confidence = int(confidence)
        if not isinstance(confidence, int) or isinstance(confidence, bool) or not 0 <= confidence <= 100:
            raise InputError.about("confidence", N_("%(value)r is not a whole number from 0 to 100"),
                                    value=confidence)
    fact_check = data.get("fact_check_url")
    fact_check = _url(fact_check, "fact_check_url") if fact_check not in (None, "") else None
    actor = _text(data, "threat_actor", False, 300)
    share = data.get("share")
    if share is not None:
        if not isinstance(share, list) or not all(isinstance(s, str) for s in share):
            raise InputError.about("share", N_("expected a list of feed names"))
        if feed_names is not None:
            for s in share:
                if s not in feed_names:
                    raise InputError.about("share", N_("no feed named %(value)r (known: %(known)s)"), value=s,
                                            known=", ".join(sorted(feed_names)))
    return Record(title=title, summary=summary, claim=claim, language=language, first_seen=first_seen,
                  last_seen=last_seen, platforms=_unique(platforms), target_countries=_unique(countries),
                  disarm=_unique(techniques), urls=_unique(urls), accounts=accounts, media_sha256=_unique(hashes),
                  verdict=verdict, confidence=confidence, fact_check_url=fact_check, threat_actor=actor,
                  tlp=tlp, share=share)


def _unique(items: list) -> list:
    return list(dict.fromkeys(items))


def stix_now() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _plain(obj) -> dict:
    return json.loads(obj.serialize())


_VERSION_KEYS = ("created", "modified", "extensions")


def current_version(held: dict, fresh: dict) -> dict:
    """The node's own shared object as this release writes it: `held` when it says the
    same, else a new version of it (its `created`, a new `modified`), so a location made
    before locations had names gets one, once."""
    def content(obj: dict) -> dict:
        ext = {k: v for k, v in (obj.get("extensions") or {}).items() if k != SIGNATURE_EXT}
        return {**{k: v for k, v in obj.items() if k not in _VERSION_KEYS}, "extensions": ext}
    if content(held) == content(fresh):
        return held
    return {**fresh, "created": held["created"]}


def incident_times(record: Record) -> dict:
    """Top-level `first_seen`/`last_seen` of the incident (declared by INCIDENT_TIMES_EXT):
    STIX 2.1's incident has no such properties, OpenCTI reads them there."""
    return {"first_seen": record.first_seen, **({"last_seen": record.last_seen} if record.last_seen else {})}


def node_object(stix_type: str, key: str, tlp: str, make: Callable[[str], dict], node_identity: str,
                scoped_id: Callable[[str, str, str], str], existing: Callable[[str], dict | None]) -> dict:
    """The node's one object of a type for a key and TLP (a country's location, a
    threat actor): the held one, a new version of it if this release writes it
    differently, or a new one (node/object_ids.py names it)."""
    oid = scoped_id(stix_type, key, tlp)
    held = existing(oid)
    if held is None:
        return make(oid)
    if held.get("created_by_ref") == node_identity:
        return current_version(held, make(oid))
    return make(f"{stix_type}--{uuid.uuid4()}")  # never adopt another creator's object


@dataclass
class Built:
    report_id: str
    incident_id: str
    objects: list[dict]  # unsigned STIX dicts; SDOs/SROs to be signed


def build(record: Record, node_identity: str, country: str, disarm: Disarm,
          scoped_id: Callable[[str, str, str], str],
          existing: Callable[[str], dict | None] = lambda _id: None,
          same_incident: tuple[str, str] | None = None) -> Built:
    """Map a validated record onto STIX objects (docs/data-model.md).

    `scoped_id(type, key, tlp)` names the objects an incident shares with the node's other
    incidents of the same TLP (node/object_ids.py); `existing(id)` returns an object this
    node already holds, so those are reused instead of versioned on every incident.
    `same_incident` (incident id, case id) builds a correction of that incident
    (node/corrections.py gives the other objects their earlier ids)."""
    now = stix_now()
    marking = [TLP_MARKINGS[record.tlp]]
    common = {"created_by_ref": node_identity, "created": now, "modified": now, "object_marking_refs": marking}
    if same_incident:
        incident_uuid, case_id = same_incident[0].split("--", 1)[1], same_incident[1]
    else:
        incident_uuid = uuid.uuid4()
        case_id = f"{country}-{now[:4]}-{str(incident_uuid)[:8]}"
    objects: list[dict] = []

    scos = [_plain(stix2.URL(value=u, object_marking_refs=marking)) for u in record.urls]
    hosts = _unique([urlsplit(u).netloc.rsplit("@", 1)[-1].split(":")[0] for u in record.urls])
    scos += [_plain(stix2.DomainName(value=h, object_marking_refs=marking)) for h in hosts if h]
    scos += [_plain(stix2.UserAccount(account_type=account_type(a["platform"]), account_login=a["login"],
                                      object_marking_refs=marking)) for a in record.accounts]
    scos += [_plain(stix2.File(hashes={"SHA-256": h}, object_marking_refs=marking)) for h in record.media_sha256]
    objects += scos

    disinfo = {"extension_type": "property-extension", "verdict": record.verdict,
               "languages": [record.language], "first_seen": record.first_seen, "case_id": case_id}
    for key, value in (("claim", record.claim), ("last_seen", record.last_seen)):
        if value is not None:
            disinfo[key] = value
    for key, value in (("platforms", record.platforms), ("target_countries", record.target_countries),
                       ("disarm_techniques", record.disarm)):
        if value:
            disinfo[key] = value
    unverified = record.verdict == "unverified"
    core = {"extension_type": "property-extension",
            "determination": "suspected" if unverified else "confirmed",
            "investigation_status": "open" if unverified else "closed",
            "incident_types": ["disinformation"]}
    refs = [{"source_name": "qalqan", "external_id": case_id}]
    if record.fact_check_url:
        refs.append({"source_name": "fact-check", "url": record.fact_check_url})
    incident_kwargs = {"id": f"incident--{incident_uuid}", "name": record.title, "description": record.summary,
                       "lang": record.language, "external_references": refs, **incident_times(record),
                       "extensions": {INCIDENT_CORE_EXT: core, DISINFO_EXT: disinfo,
                                      INCIDENT_TIMES_EXT: {"extension_type": "toplevel-property-extension"}},
                       **common}
    if record.confidence is not None:
        incident_kwargs["confidence"] = record.confidence
    misp = misp_tags.for_record(record, disarm)  # what MISP keeps (labels, report description)
    incident = _plain(stix2.Incident(labels=misp.labels, **incident_kwargs))
    objects.append(incident)

    if scos:
        last = record.last_seen or record.first_seen
        objects.append(_plain(stix2.ObservedData(
            first_observed=record.first_seen, last_observed=last, number_observed=1,
            object_refs=[s["id"] for s in scos], **common)))

    def relate(kind: str, target: str, **extra) -> None:
        objects.append(_plain(stix2.Relationship(relationship_type=kind, source_ref=incident["id"],
                                                 target_ref=target, **extra, **common)))

    for technique_id in record.disarm:
        technique = disarm.techniques.get(technique_id)
        if technique is not None:
            relate("uses", technique.stix_id, external_references=[technique_reference(technique_id)])
    def shared(stix_type: str, key: str, make: Callable[[str], dict]) -> dict:
        # Carries the incident's TLP, so it goes exactly where the incident goes.
        return node_object(stix_type, key, record.tlp, make, node_identity, scoped_id, existing)

    for cc in record.target_countries:
        location = shared("location", cc,
                          lambda oid: _plain(stix2.Location(id=oid, **location_properties(cc), **common)))
        objects.append(location)
        relate("targets", location["id"])
    if record.threat_actor:
        actor = shared("threat-actor", record.threat_actor.casefold(),
                       lambda oid: _plain(stix2.ThreatActor(id=oid, name=record.threat_actor, **common)))
        objects.append(actor)
        relate("attributed-to", actor["id"])

    report = _plain(stix2.Report(name=record.title, description=misp.report_description, published=now,
                                 report_types=["threat-report"], labels=misp.labels, confidence=record.confidence,
                                 object_refs=[o["id"] for o in objects], **common))
    objects.append(report)
    objects += fimi_objects(record.claim, record.accounts, incident["id"], scos, shared, common)  # not in the report
    return Built(report_id=report["id"], incident_id=incident["id"], objects=objects)
