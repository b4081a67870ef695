"""Correcting and withdrawing an own incident from the UI (node/corrections.py does it)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from ..appctx import current_node
from ..corrections import Held, held_incident, lowers_tlp, record_of
from ..errors import InputError, QalqanError
from ..i18n import gettext
from . import blueprint
from .forms import CorrectionForm, WithdrawForm, show_error
from .incidents import held_or_back
from .sharing import feed_in_words, reach_table


def _own(incident_id: str) -> Held:
    return held_or_back(held_incident, incident_id)


@blueprint.route("/incidents/<incident_id>/edit", methods=["GET", "POST"])
def incident_edit(incident_id: str):
    node = current_node()
    held = _own(incident_id)
    form = CorrectionForm(node.disarm, node.config.feeds, node.config["default_tlp"])
    status = 200
    if not form.is_submitted():
        form.fill(record_of(node, held))
    elif form.validate_on_submit():
        record = form.record()
        if record is not None:
            try:
                node.edit_incident(incident_id, record, bool(form.lower_tlp.data))
            except InputError as exc:
                form.show_error(exc)
            except QalqanError as exc:
                form.form_errors.append(exc.message)
            else:
                flash(gettext("Corrected and signed: partners receive the new version."))
                return redirect(url_for("web.incident_show", incident_id=incident_id))
        status = 400
    else:
        status = 400
    feeds = node.config.feeds
    asks_to_confirm = form.tlp.data in (None, "") or lowers_tlp(held, form.tlp.data or held.tlp)
    return render_template("incidents/new.html", form=form, reach=reach_table(feeds), editing=held,
                           confirm_lower_tlp=asks_to_confirm and form.is_submitted(),
                           feed_words={name: feed_in_words(f) for name, f in feeds.items()}), status


@blueprint.route("/incidents/<incident_id>/withdraw", methods=["GET", "POST"])
def incident_withdraw(incident_id: str):
    node = current_node()
    held = _own(incident_id)
    form = WithdrawForm()
    status = 200
    if form.validate_on_submit():
        try:
            node.withdraw_incident(incident_id, form.reason.data)
        except InputError as exc:
            show_error(form, exc)
        else:
            flash(gettext("Withdrawn: partners and the public pages receive the withdrawal."))
            return redirect(url_for("web.incident_show", incident_id=incident_id))
        status = 400
    elif request.method == "POST":
        status = 400
    return render_template("incidents/withdraw.html", form=form, incident=held.incident), status
