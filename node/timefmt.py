"""STIX and TAXII timestamps.

Versions are compared as microsecond-precision UTC strings so that
`2025-01-01T00:00:00Z` and `2025-01-01T00:00:00.000Z` are the same version.
TAXII `date_added` values are integers of microseconds since the epoch inside the
store and RFC 3339 strings with six fractional digits on the wire.
"""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone

from .errors import N_, InputError

STIX_TIMESTAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$")
RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$")


def is_stix_timestamp(value) -> bool:
    m = STIX_TIMESTAMP.match(value) if isinstance(value, str) else None
    if m is None:
        return False
    try:
        datetime(*map(int, m.groups()[:6]))
        return True
    except ValueError:
        return False


def version_key(stamp: str) -> str:
    """Normalise a STIX timestamp to microseconds for ordering and comparing versions."""
    m = STIX_TIMESTAMP.match(stamp)
    if not m:
        raise InputError(f"{stamp!r} is not a STIX timestamp")
    frac = (m.group(7) or "")[:6].ljust(6, "0")
    return f"{stamp[:19]}.{frac}Z"


def now_us() -> int:
    return time.time_ns() // 1000


def us_to_taxii(us: int) -> str:
    seconds, micros = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def taxii_to_us(text: str) -> int:
    """Parse a TAXII timestamp (0 to 9 fractional digits, Z or offset)."""
    m = RFC3339.match(text or "")
    if not m:
        raise InputError(f"{text!r} is not an RFC 3339 timestamp")
    try:
        dt = datetime(*(int(g) for g in m.groups()[:6]), tzinfo=timezone.utc)
    except ValueError:
        raise InputError(f"{text!r} is not a valid date and time") from None
    offset = m.group(8)
    seconds = int(dt.timestamp())
    if offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        seconds -= sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    frac = (m.group(7) or "")[:6].ljust(6, "0")
    return seconds * 1_000_000 + int(frac)


# What people type, and what a browser's datetime-local field sends: a date and a time
# with a space or a T, minutes or seconds, no zone (taken as UTC, as the form says).
NAIVE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2})?$")


def _naive_utc(value: str, field: str) -> datetime:
    date, hours_minutes, seconds = NAIVE_TIME.match(value).groups()
    try:
        return datetime.strptime(f"{date} {hours_minutes}{seconds or ':00'}", "%Y-%m-%d %H:%M:%S").replace(
            tzinfo=timezone.utc)
    except ValueError:
        raise InputError.about(field, N_("%(value)r is not a valid date and time"), value=value) from None


def parse_record_time(value, field: str) -> str:
    """A user-typed date as a STIX millisecond timestamp: RFC 3339, a plain date, or a
    date and time without a zone (`2026-11-29 07:45`, taken as UTC)."""
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    elif hasattr(value, "isoformat") and not isinstance(value, str):  # a YAML date
        dt = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    elif isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        try:
            dt = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        except ValueError:
            raise InputError.about(field, N_("%(value)r is not a valid date"), value=value) from None
    elif isinstance(value, str) and NAIVE_TIME.match(value.strip()):
        dt = _naive_utc(value.strip(), field)
    elif isinstance(value, str):
        try:
            us = taxii_to_us(value)
        except InputError:
            raise InputError.about(field, N_("%(value)r is not a date such as 2026-11-29, 2026-11-29 07:45 (UTC) or "
                                   "2026-11-29T07:45:00+05:00"), value=value) from None
        dt = datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)
    else:
        raise InputError.about(field, N_("expected a date-time, got %(kind)s"), kind=type(value).__name__)
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
