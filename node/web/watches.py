"""Watches and notifications in the UI: /watches (make, mute, remove; "save this filter
as a watch" from the incident list lands here with the filter filled in), /notifications
(what the account's watches found; mark seen), and the header's badge of unseen ones.

node/alerts/watches.py decides who may set what: an analyst keeps their own watches
with e-mail; webhook and apprise fields are an admin's. A new webhook's secret is shown
once, in the answer to the POST that made it (never flashed: the flash travels in the
session cookie)."""
from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ..alerts.watches import (Actor, add_watch, list_watches, mark_seen, notifications_of, remove_watch, set_muted,
                              shown_target, unseen_count)
from ..appctx import current_node
from ..errors import InputError
from ..i18n import error_text, gettext
from . import blueprint
from .forms import PostForm, WatchForm

NOTIFICATIONS_PAGE = 100
# The incident list's query arguments → the watch form's fields ("save this filter as a watch").
FROM_LIST = {"country": "target_country", "technique": "technique", "verdict": "verdict", "platform": "platform",
             "q": "text"}


def _actor() -> Actor:
    return Actor(current_user.name, current_user.role)


@blueprint.context_processor
def unseen_notifications() -> dict:
    """`unseen_notifications` for the badge in base.html: a count only pages that show it pay for."""
    def count() -> int:
        if not current_user.is_authenticated:
            return 0
        return unseen_count(current_node().store, current_user.name)
    return {"unseen_notifications": count}


def _render(form: WatchForm, secrets: dict | None = None, status: int = 200):
    node = current_node()
    rows = list_watches(node.store, None if current_user.is_admin else current_user.name)
    response = make_response(render_template(
        "watches/list.html", form=form, rows=rows, shown_target=shown_target, secrets=secrets or {},
        techniques=sorted(node.disarm.techniques), from_list=request.args.get("from") == "list"), status)
    if secrets:
        response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/watches", methods=["GET", "POST"])
def watches():
    if request.method == "GET":
        form = WatchForm(formdata=None)
        for arg, field in FROM_LIST.items():
            if request.args.get(arg, "").strip():
                form[field].data = request.args[arg].strip()
        return _render(form)
    form = WatchForm()
    if not form.validate_on_submit():
        form.form_errors.append(gettext("The form expired; submit it again."))
        return _render(form, status=400)
    node = current_node()
    filters = {field: form[field].data for field in ("target_country", "technique", "verdict", "platform", "text",
                                                     "observable")}
    try:
        added = add_watch(node.store, node.home, node.disarm, (form.name.data or "").strip(), current_user.name,
                          filters, form.lines("emails"), form.lines("webhooks"), form.lines("apprise"),
                          actor=_actor())
    except InputError as exc:
        form.show_error(exc)
        return _render(form, status=400)
    if added.secrets:
        return _render(WatchForm(formdata=None), secrets={shown_target("webhook", u): s
                                                         for u, s in added.secrets.items()})
    flash(gettext("Watch %(name)s saved.", name=added.watch.name))
    return redirect(url_for("web.watches"))


def _change(name: str, change, done: str):
    if not PostForm().validate_on_submit():
        abort(400)
    try:
        change(current_node().store, name, _actor())
    except InputError as exc:
        flash(gettext("Not changed: %(reason)s", reason=error_text(exc)))
    else:
        flash(done)
    return redirect(url_for("web.watches"))


@blueprint.route("/watches/<name>/mute", methods=["POST"])
def watch_mute(name: str):
    return _change(name, lambda store, n, actor: set_muted(store, n, True, actor), gettext("Watch %(name)s muted.", name=name))


@blueprint.route("/watches/<name>/unmute", methods=["POST"])
def watch_unmute(name: str):
    return _change(name, lambda store, n, actor: set_muted(store, n, False, actor), gettext("Watch %(name)s unmuted.", name=name))


@blueprint.route("/watches/<name>/remove", methods=["POST"])
def watch_remove(name: str):
    return _change(name, remove_watch, gettext("Watch %(name)s removed.", name=name))


# -- notifications ------------------------------------------------------------------------

@blueprint.route("/notifications")
def notifications():
    before = request.args.get("before", "")
    rows = notifications_of(current_node().store, current_user.name,
                            int(before) if before.isdigit() and len(before) <= 18 else None, NOTIFICATIONS_PAGE + 1)
    older = url_for("web.notifications", before=rows[NOTIFICATIONS_PAGE - 1]["id"]) \
        if len(rows) > NOTIFICATIONS_PAGE else None
    return render_template("watches/notifications.html", rows=rows[:NOTIFICATIONS_PAGE], older=older)


@blueprint.route("/notifications/seen", methods=["POST"])
def notifications_seen():
    """Mark seen: one notification (`id` in the form) or all of the account's."""
    if not PostForm().validate_on_submit():
        abort(400)
    one = request.form.get("id", "")
    mark_seen(current_node().store, current_user.name, int(one) if one.isdigit() and len(one) <= 18 else None)
    return redirect(url_for("web.notifications"))
