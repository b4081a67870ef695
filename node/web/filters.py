"""Template filters: times and codes as an analyst reads them (times in the reader's
locale, node/i18n.py)."""
from __future__ import annotations

from ..i18n import gettext, stix_time, us_time
from ..logs import printable
from ..incident import VERDICT_LABELS
from . import blueprint

# Text from peers (a last sync error) with control characters written as escapes.
blueprint.app_template_filter("printable")(printable)
blueprint.app_template_filter("us_time")(us_time)
blueprint.app_template_filter("stix_time")(stix_time)


@blueprint.app_template_filter("tlp_class")
def tlp_class(tlp: str | None) -> str:
    return "tlp-" + (tlp or "unknown").replace("+", "-")


@blueprint.app_template_filter("verdict_label")
def verdict_label(verdict: str | None) -> str:
    """A verdict value in the reader's language; a value of no known verdict as it is."""
    if not verdict:
        return ""
    return gettext(VERDICT_LABELS[verdict]) if verdict in VERDICT_LABELS else verdict
