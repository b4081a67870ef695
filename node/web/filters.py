"""Template filters: times and codes as an analyst reads them (times in the reader's
locale, node/i18n.py)."""
from __future__ import annotations

from ..i18n import gettext, stix_time, us_time
from ..logs import printable
from ..errors import N_
from ..incident import VERDICT_LABELS
from ..opinions import OPINION_LABELS
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


# The incident form's labels, by record field: the rows of a diff between versions.
RECORD_FIELD_LABELS = {
    "title": N_("Title"), "summary": N_("Summary"), "claim": N_("Claim"), "language": N_("Language"),
    "first_seen": N_("First seen"), "last_seen": N_("Last seen"), "platforms": N_("Platforms"),
    "target_countries": N_("Target countries"), "disarm": N_("DISARM"), "urls": N_("URLs"),
    "accounts": N_("Accounts"), "media_sha256": N_("Media SHA-256"), "verdict": N_("Verdict"),
    "confidence": N_("Confidence"), "fact_check_url": N_("Fact-check URL"), "threat_actor": N_("Threat actor"),
    "tlp": N_("TLP"),
}


@blueprint.app_template_filter("record_field_label")
def record_field_label(name: str) -> str:
    return gettext(RECORD_FIELD_LABELS[name]) if name in RECORD_FIELD_LABELS else name


@blueprint.app_template_filter("opinion_label")
def opinion_label(opinion: str | None) -> str:
    return gettext(OPINION_LABELS[opinion]) if opinion in OPINION_LABELS else (opinion or "—")


@blueprint.app_template_filter("diff_value")
def diff_value(value) -> str:
    """A record field's value in a diff of versions: lists on one line, accounts as typed."""
    if value is None or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(f"{v.get('platform')} {v.get('login')}" if isinstance(v, dict) else str(v) for v in value)
    return str(value)
