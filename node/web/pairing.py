"""Admin pairing page: the same as `qalqan invite` and `qalqan join` (node/pairing.py).

Creating an invitation shows its fingerprint and offers the file as a download made in
that one response (a data: link); the secret it holds is stored nowhere else. Accepting
is two steps: the upload is checked and shown (who invites, fingerprint, feeds), and
only the confirmation, which carries the same bytes back, changes anything; it checks
them again. Every change is audited as made by "admin NAME".
"""
from __future__ import annotations

import base64
import json

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from .. import pairing
from ..appctx import current_node
from ..errors import QalqanError
from ..i18n import gettext
from . import blueprint
from .auth import admin_required
from .forms import InviteForm, JoinConfirmForm, JoinUploadForm

MAX_INVITATION_BYTES = 256 * 1024


def _invite_form() -> InviteForm:
    form = InviteForm()
    feeds = [(f.name, f"{f.name} (TLP:{f.max_tlp.upper()})") for f in current_node().config.feeds.values()]
    form.read.choices = form.write.choices = feeds
    return form


def _page(**extra):
    return render_template("admin/pairing.html", invite_form=extra.pop("invite_form", None) or _invite_form(),
                           upload_form=JoinUploadForm(), **extra)


@blueprint.route("/admin/pairing")
@admin_required
def pairing_page():
    return _page()


@blueprint.route("/admin/pairing/invite", methods=["POST"])
@admin_required
def pairing_invite():
    form = _invite_form()
    if not form.validate_on_submit():
        abort(400)
    peer = (form.peer.data or "").strip()
    try:
        days = int(form.days.data or pairing.DEFAULT_DAYS)
    except ValueError:
        days = 0  # pairing.invite says which days are allowed
    try:
        invitation = pairing.invite(current_node(), peer, form.read.data or [], form.write.data or [], days,
                                    by=f"admin {current_user.name}")
    except QalqanError as exc:
        flash(gettext("No invitation made: %(reason)s", reason=exc.message))
        return redirect(url_for("web.pairing_page"))
    raw = json.dumps(invitation.data, ensure_ascii=False, indent=2).encode("utf-8")
    download = "data:application/json;base64," + base64.b64encode(raw).decode("ascii")
    return _page(created=invitation, download=download, filename=f"{peer}.invitation")


def _read(raw: bytes, where: str):
    return pairing.read_invitation(current_node(), raw, where=where)


@blueprint.route("/admin/pairing/join", methods=["POST"])
@admin_required
def pairing_join():
    form = JoinUploadForm()
    if not form.validate_on_submit():
        abort(400)
    upload = form.file.data
    raw = upload.read(MAX_INVITATION_BYTES + 1) if upload else b""
    if not raw or len(raw) > MAX_INVITATION_BYTES:
        flash(gettext("Not accepted: choose the invitation file the partner sent (at most 256 KiB)"))
        return redirect(url_for("web.pairing_page"))
    try:
        invitation = _read(raw, upload.filename or "invitation")
    except QalqanError as exc:
        flash(gettext("Not accepted: %(reason)s", reason=exc.message))
        return redirect(url_for("web.pairing_page"))
    confirm = JoinConfirmForm(invitation=base64.b64encode(raw).decode("ascii"))
    return _page(offered=invitation, lines=pairing.describe(invitation), confirm_form=confirm)


@blueprint.route("/admin/pairing/accept", methods=["POST"])
@admin_required
def pairing_accept():
    form = JoinConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        raw = base64.b64decode(form.invitation.data or "", validate=True)
    except ValueError:
        abort(400)
    try:
        node = current_node()
        invitation = _read(raw, "invitation")
        done = pairing.accept(node, invitation, by=f"admin {current_user.name}")
    except QalqanError as exc:
        flash(gettext("Not accepted: %(reason)s", reason=exc.message))
    else:
        flash(gettext("Joined %(peer)s: %(done)s", peer=invitation.inviter, done="; ".join(done)))
    return redirect(url_for("web.pairing_page"))
