"""Sightings: "seen here too", joint monitoring of an incident (docs/data-model.md,
"Sightings"). A record (the web form, or `qalqan sighting add INCIDENT_ID FILE`) becomes
a signed STIX `sighting` of the incident, where_sighted_refs the country's location,
observed_data_refs an observed-data of the URLs and accounts seen, the platform as a
`platform:<name>` label and the analyst's note as its description."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import stix2

from .countries import is_country, location_properties
from .errors import N_, InputError
from .incident import COUNTRY_RE, PLATFORM_RE, _list, _plain, _text, _unique, _url, node_object, \
    seen_times, stix_now, valid_accounts
from .platforms import account_type
from .reactions import Subject, feeds_for, subject_of

if TYPE_CHECKING:
    from .home import IncidentResult, Node

FIELDS = ("first_seen", "last_seen", "count", "country", "platform", "urls", "accounts", "note")
MAX_COUNT = 10_000_000
PLATFORM_LABEL = "platform:"


@dataclass
class SightingRecord:
    first_seen: str
    country: str
    last_seen: str | None = None
    count: int = 1
    platform: str | None = None
    urls: list[str] = field(default_factory=list)
    accounts: list[dict] = field(default_factory=list)
    note: str | None = None


def validate(data: Any, default_country: str) -> SightingRecord:
    """Check a sighting record; raise InputError naming the first bad field."""
    if not isinstance(data, dict):
        raise InputError("a sighting record must be a mapping of field names to values")
    for key in data:
        if key not in FIELDS:
            raise InputError(f"{key}: unknown field (known: {', '.join(FIELDS)})")
    first_seen, last_seen = seen_times(data)
    count = data.get("count", 1)
    if count in (None, ""):
        count = 1
    if isinstance(count, str) and count.strip().isdigit():
        count = int(count)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
        raise InputError.about("count", N_("%(value)r is not a whole number from 1 to %(limit)d"), value=count, limit=MAX_COUNT)
    country = data.get("country") or default_country
    if not isinstance(country, str) or not COUNTRY_RE.match(country) or not is_country(country):
        raise InputError.about("country", N_("%(value)r is not an ISO 3166-1 alpha-2 code such as KZ"), value=country)
    platform = data.get("platform") or None
    if platform is not None and (not isinstance(platform, str) or not PLATFORM_RE.match(platform)):
        raise InputError.about("platform", N_("%(value)r is not a platform name such as telegram or tiktok"), value=platform)
    urls = [_url(u, "urls") for u in _list(data, "urls")]
    accounts = valid_accounts(data)
    note = _text(data, "note", False, 5_000)
    return SightingRecord(first_seen, country, last_seen, count, platform, _unique(urls), accounts, note)


def build(record: SightingRecord, subject: Subject, node: "Node") -> list[dict]:
    """The sighting and what it refers to, unsigned (the caller signs and ingests)."""
    now = stix_now()
    common = {"created_by_ref": node.config.identity, "created": now, "modified": now,
              "object_marking_refs": subject.marking}
    marking = subject.marking
    scos = [_plain(stix2.URL(value=u, object_marking_refs=marking)) for u in record.urls]
    scos += [_plain(stix2.UserAccount(account_type=account_type(a["platform"]), account_login=a["login"],
                                      object_marking_refs=marking)) for a in record.accounts]
    location = node_object("location", record.country, subject.tlp, lambda oid: _plain(stix2.Location(
        id=oid, **location_properties(record.country), **common)), node.config.identity, node.scoped_ids,
        node.held_object)
    objects = [*scos, location]
    last = record.last_seen or record.first_seen
    sighting = {"sighting_of_ref": subject.id, "first_seen": record.first_seen, "last_seen": last,
                "count": record.count, "where_sighted_refs": [location["id"]], **common}
    if scos:
        observed = _plain(stix2.ObservedData(first_observed=record.first_seen, last_observed=last,
                                             number_observed=record.count, object_refs=[s["id"] for s in scos],
                                             **common))
        objects.append(observed)
        sighting["observed_data_refs"] = [observed["id"]]
    if record.platform:
        sighting["labels"] = [PLATFORM_LABEL + record.platform]
    if record.note:
        sighting["description"] = record.note
    objects.append(_plain(stix2.Sighting(**sighting)))
    return objects


def add_sighting(node: "Node", incident_id: str, data: Any) -> "IncidentResult":
    subject = subject_of(node, incident_id)
    record = validate(data, node.config["node.country"])
    objects = build(record, subject, node)
    return node.publish_objects(objects, feeds_for(node, subject), [], "", subject.id)
