"""Opinions: a partner node agrees or disagrees with an incident's verdict (STIX
`opinion` about the incident, with the analyst's explanation). A node holds one opinion
per incident: recording another signs a new version of it."""
from __future__ import annotations

from typing import TYPE_CHECKING

import stix2

from .errors import N_, InputError
from .incident import _plain, node_object, stix_now
from .reactions import feeds_for, subject_of

if TYPE_CHECKING:
    from .home import IncidentResult, Node

OPINIONS = ("strongly-disagree", "disagree", "neutral", "agree", "strongly-agree")
OPINION_LABELS = {"strongly-disagree": N_("strongly disagree"), "disagree": N_("disagree"), "neutral": N_("neutral"),
                  "agree": N_("agree"), "strongly-agree": N_("strongly agree")}
DISPUTING = frozenset({"strongly-disagree", "disagree"})
MAX_EXPLANATION = 5_000


def validate(opinion, explanation) -> tuple[str, str | None]:
    if opinion not in OPINIONS:
        raise InputError(f"opinion: {opinion!r} is not one of {', '.join(OPINIONS)}")
    if explanation is not None and not isinstance(explanation, str):
        raise InputError.about("explanation", N_("expected text"))
    explanation = (explanation or "").strip() or None
    if explanation and len(explanation) > MAX_EXPLANATION:
        raise InputError.about("explanation", N_("longer than %(limit)d characters"), limit=MAX_EXPLANATION)
    return opinion, explanation


def record_opinion(node: "Node", incident_id: str, opinion: str, explanation: str | None = None) -> "IncidentResult":
    opinion, explanation = validate(opinion, explanation)
    subject = subject_of(node, incident_id)
    if subject.own:
        raise InputError.about("incident", N_("%(id)s was recorded by this node; correct it instead of giving an "
                                              "opinion on it"), id=incident_id)
    now = stix_now()
    common = {"created_by_ref": node.config.identity, "created": now, "modified": now,
              "object_marking_refs": subject.marking}
    extra = {"explanation": explanation} if explanation else {}
    made = node_object("opinion", subject.id, subject.tlp, lambda oid: _plain(stix2.Opinion(
        id=oid, opinion=opinion, object_refs=[subject.id], **extra, **common)),
        node.config.identity, node.scoped_ids, node.held_object)
    return node.publish_objects([made], feeds_for(node, subject), [], "", subject.id)
