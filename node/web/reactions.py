"""Sightings and opinions on the incident page: the forms that record them (node/sightings.py,
node/opinions.py) and the timeline of sightings by country."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import flash, redirect, render_template, url_for

from ..appctx import current_node
from ..errors import InputError
from ..reaction_index import opinions_of, sightings_of
from ..reactions import subject_of
from ..i18n import error_text, gettext
from . import blueprint
from .forms import OpinionForm, SightingForm
from .incidents import held_or_back


@dataclass
class CountryRow:
    """One country's line in the timeline: its sightings as spans over the whole range."""

    country: str
    total: int = 0
    spans: list[dict] = field(default_factory=list)  # left and width in % of the range, the sighting


def timeline(sightings: list[dict]) -> tuple[list[CountryRow], int | None, int | None]:
    """Rows by country (earliest first), and the range they span in µs."""
    timed = [s for s in sightings if s["first_seen_us"] is not None]
    if not timed:
        return [], None, None
    start = min(s["first_seen_us"] for s in timed)
    end = max(s["last_seen_us"] or s["first_seen_us"] for s in timed)
    width = max(end - start, 1)
    rows: dict[str, CountryRow] = {}
    for s in timed:
        row = rows.setdefault(s["country"] or "?", CountryRow(s["country"] or "?"))
        row.total += s["count"] or 0
        left = (s["first_seen_us"] - start) * 100 / width
        span = ((s["last_seen_us"] or s["first_seen_us"]) - s["first_seen_us"]) * 100 / width
        row.spans.append({"left": round(min(left, 99.0), 2), "width": round(max(span, 1.0), 2), "sighting": s})
    return list(rows.values()), start, end


def reactions_context(incident_id: str, own: bool) -> dict:
    """What the incident page shows of sightings and opinions."""
    store = current_node().store
    sightings = sightings_of(store, incident_id)
    rows, start, end = timeline(sightings)
    return {"sightings": sightings, "timeline": rows, "timeline_start": start, "timeline_end": end,
            "opinions": opinions_of(store, incident_id), "opinion_form": None if own else OpinionForm()}


def _subject_or_back(incident_id: str):
    return held_or_back(subject_of, incident_id)


@blueprint.route("/incidents/<incident_id>/sightings/new", methods=["GET", "POST"])
def sighting_new(incident_id: str):
    node = current_node()
    subject = _subject_or_back(incident_id)
    form = SightingForm()
    if not form.is_submitted():
        form.country.data = node.config["node.country"]
    status = 200
    if form.validate_on_submit():
        record = form.record()
        if record is not None:
            try:
                node.add_sighting(incident_id, record)
            except InputError as exc:
                form.show_error(exc)
            else:
                flash(gettext("Sighting recorded and signed."))
                return redirect(url_for("web.incident_show", incident_id=incident_id) + "#sightings")
        status = 400
    elif form.is_submitted():
        status = 400
    return render_template("incidents/sighting.html", form=form, incident=subject.incident), status


@blueprint.route("/incidents/<incident_id>/opinion", methods=["POST"])
def opinion_record(incident_id: str):
    node = current_node()
    _subject_or_back(incident_id)
    form = OpinionForm()
    if not form.validate_on_submit():
        flash(gettext("The form expired or the opinion is not one offered; submit it again."))
    else:
        try:
            node.record_opinion(incident_id, form.opinion.data, form.explanation.data)
        except InputError as exc:
            flash(error_text(exc))
        else:
            flash(gettext("Opinion recorded and signed."))
    return redirect(url_for("web.incident_show", incident_id=incident_id) + "#opinions")
