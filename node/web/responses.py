"""Responses in the UI: the form on an incident, and the list its page shows
(node/responses.py records them, node/response_index.py lists them)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..appctx import current_node
from ..errors import InputError
from ..response_index import responses_of
from ..reactions import subject_of
from ..responses import kind_label
from . import blueprint
from .forms import ResponseForm
from .incidents import INCIDENT_ID_RE


def shown_responses(incident_id: str) -> list[dict]:
    """An incident's responses as its page lists them: kind labels, countermeasure names."""
    node = current_node()
    shown = []
    for row in responses_of(node.store.conn, incident_id):
        shown.append({**row, "kind_label": kind_label(row["kind"]), "own": row["created_by"] == node.config.identity,
                      "countermeasures": [(cid, node.disarm.countermeasure_name(cid))
                                          for cid in row["countermeasures"].split()]})
    return shown


@blueprint.route("/incidents/<incident_id>/responses/new", methods=["GET", "POST"])
def response_new(incident_id: str):
    node = current_node()
    if not INCIDENT_ID_RE.match(incident_id):
        abort(404)
    try:
        target = subject_of(node, incident_id)
    except InputError as exc:
        if node.store.object_json(incident_id) is None:
            abort(404)
        flash(exc.message)
        return redirect(url_for("web.incident_show", incident_id=incident_id))
    form = ResponseForm(node.disarm)
    status = 200
    if form.validate_on_submit():
        recorded, _result = form.attempt(lambda: node.add_response(incident_id, form.record(), by=current_user.name))
        if recorded:
            flash("Response recorded and signed: it goes where the incident goes.")
            return redirect(url_for("web.incident_show", incident_id=incident_id, _anchor="responses"))
        status = 400
    elif request.method == "POST":
        status = 400  # a missing or stale CSRF token
    return render_template("incidents/response.html", form=form, incident=target.incident, tlp=target.tlp,
                           disarm_release=(node.disarm.release.get("modified") or "")[:10]), status
