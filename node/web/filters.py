"""Template filters: times and codes as an analyst reads them."""
from __future__ import annotations

import time

from ..logs import printable
from ..timefmt import taxii_to_us
from . import blueprint

# Text from peers (a last sync error) with control characters written as escapes.
blueprint.app_template_filter("printable")(printable)


@blueprint.app_template_filter("us_time")
def us_time(us: int | None) -> str:
    if not isinstance(us, int):
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(us / 1_000_000))


@blueprint.app_template_filter("stix_time")
def stix_time(stamp: str | None) -> str:
    """A STIX timestamp shortened to the minute; the raw value if it does not parse."""
    if not stamp:
        return "—"
    try:
        us = taxii_to_us(stamp)
    except Exception:
        return stamp
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(us / 1_000_000))


@blueprint.app_template_filter("tlp_class")
def tlp_class(tlp: str | None) -> str:
    return "tlp-" + (tlp or "unknown").replace("+", "-")


@blueprint.app_template_filter("diff_value")
def diff_value(value) -> str:
    """A record field's value in a diff of versions: lists on one line, accounts as typed."""
    if value is None or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(f"{v.get('platform')} {v.get('login')}" if isinstance(v, dict) else str(v) for v in value)
    return str(value)
