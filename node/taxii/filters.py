"""Query parameters of the TAXII list endpoints (spec 3.3-3.5), parsed strictly.

A malformed parameter is a 400; unknown `match[...]` fields are ignored (F6).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from ..errors import InputError
from ..verify import ID_RE
from ..timefmt import is_stix_timestamp, taxii_to_us, version_key
from .errors import TaxiiError

MAX_PAGE = 1000          # server cap on `limit`
MAX_VALUES = 100         # values in one match[] filter
TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,248}$")
SPEC_VERSION_RE = re.compile(r"^\d{1,3}\.\d{1,3}$")

# Which filters each endpoint honours.
LIST_FILTERS = frozenset({"id", "type", "version", "spec_version"})
OBJECT_FILTERS = frozenset({"version", "spec_version"})
VERSIONS_FILTERS = frozenset({"spec_version"})


@dataclass(frozen=True)
class Filters:
    added_after: int | None = None          # microseconds
    limit: int = MAX_PAGE
    next: str | None = None
    ids: tuple[str, ...] = ()
    types: frozenset[str] = frozenset()
    versions: frozenset[str] = frozenset({"last"})  # "first", "last", "all" or version keys
    spec_versions: frozenset[str] = frozenset()
    raw: tuple[tuple[str, str], ...] = field(default=())  # the match[] filters paging tokens are bound to


def parse(args: Mapping, honoured: frozenset[str], default_version: str = "last") -> Filters:
    """`args` is a werkzeug MultiDict of the query string."""
    values: dict = {"versions": frozenset({default_version})}
    raw = []
    for key in args.keys():
        if len(args.getlist(key)) > 1:
            raise _bad(f"'{key}' is given more than once")
        value = args[key]
        if key == "added_after":
            values["added_after"] = _timestamp(value)
            continue  # not bound to paging tokens (node/taxii/paging.py)
        elif key == "limit":
            values["limit"] = _limit(value)
            continue
        elif key == "next":
            values["next"] = _next(value)
            continue
        elif key.startswith("match[") and key.endswith("]"):
            name = key[6:-1]
            if name not in honoured:
                continue
            _add_match(values, name, _split(key, value))
        else:
            continue
        raw.append((key, value))
    return Filters(raw=tuple(sorted(raw)), **values)


def _bad(message: str) -> TaxiiError:
    return TaxiiError(400, message)


def _timestamp(value: str) -> int:
    try:
        return taxii_to_us(value)
    except InputError:
        raise _bad(f"added_after: {value!r} is not a timestamp such as 2026-01-01T00:00:00.000000Z") from None


def _limit(value: str) -> int:
    if not value.isdigit() or int(value) <= 0:
        raise _bad(f"limit: {value!r} is not a positive integer")
    return min(int(value), MAX_PAGE)


def _next(value: str) -> str:
    if not value or len(value) > 200:
        raise _bad("next: not a paging token of this server")
    return value


def _split(key: str, value: str) -> list[str]:
    items = value.split(",")
    if any(not item or item != item.strip() for item in items):
        raise _bad(f"{key}: values are separated by commas, without spaces or empty values")
    if len(items) != len(set(items)):
        raise _bad(f"{key}: a value is repeated")
    if len(items) > MAX_VALUES:
        raise _bad(f"{key}: at most {MAX_VALUES} values")
    return items


def _add_match(values: dict, name: str, items: list[str]) -> None:
    if name == "id":
        if not all(ID_RE.match(i) for i in items):
            raise _bad("match[id]: expects STIX ids such as indicator--<uuid>")
        values["ids"] = tuple(items)
    elif name == "type":
        if not all(TYPE_RE.match(t) for t in items):
            raise _bad("match[type]: expects STIX type names")
        values["types"] = frozenset(items)
    elif name == "spec_version":
        if not all(SPEC_VERSION_RE.match(v) for v in items):
            raise _bad("match[spec_version]: expects versions such as 2.1")
        values["spec_versions"] = frozenset(items)
    elif name == "version":
        values["versions"] = _versions(items)


def _versions(items: list[str]) -> frozenset[str]:
    if "all" in items and len(items) > 1:
        raise _bad("match[version]: 'all' cannot be combined with other values")
    keys = set()
    for item in items:
        if item in ("first", "last", "all"):
            keys.add(item)
        elif is_stix_timestamp(item):
            keys.add(version_key(item))
        else:
            raise _bad(f"match[version]: {item!r} is not first, last, all or a STIX timestamp")
    if len(keys) != len(items):
        raise _bad("match[version]: a version is repeated")
    return frozenset(keys)
