"""Admin access page: feeds with their readers and writers, peers, peer tokens, web
accounts and pinned cards, with the same changes as `qalqan feed|peer|token|user|trust`
— these views call node/access.py, tokens.py and users.py, which audit every change
(by "admin NAME"). A new token's secret is shown once, in the answer to the POST that
made it (never flashed: the flash travels in the session cookie)."""
from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, url_for
from flask_login import current_user

from .. import access, tokens, users
from ..appctx import current_node
from ..errors import QalqanError
from ..i18n import N_, gettext
from . import blueprint
from .auth import admin_required
from .forms import FeedAddForm, FeedGrantForm, FeedRevokeForm, NamedForm, PasswordSetForm, TokenCreateForm


GRANTED = {"read": N_("Feed %(feed)s: %(peer)s may read it."), "write": N_("Feed %(feed)s: %(peer)s may write it."),
           "read+write": N_("Feed %(feed)s: %(peer)s may read and write it.")}


@blueprint.route("/admin/access")
@admin_required
def access_page():
    return _render()


def _render(new_token: dict | None = None):
    node = current_node()
    return render_template("admin/access.html", feeds=list(node.config.feeds.values()),
                           peers=access.list_peers(node), tokens=tokens.list_tokens(node.store),
                           users=users.list_users(node.store), cards=access.list_trusted(node),
                           grant_form=FeedGrantForm(), feed_form=FeedAddForm(formdata=None),
                           token_form=TokenCreateForm(formdata=None), password_form=PasswordSetForm(formdata=None),
                           new_token=new_token)


def _act(form, change, done: str):
    """Validate the form's CSRF token, make the change, say what happened or why not."""
    if not form.validate_on_submit():
        abort(400)
    try:
        change(current_node(), f"admin {current_user.name}")
    except QalqanError as exc:
        flash(gettext("Not changed: %(reason)s", reason=exc.message))
    else:
        flash(done)
    return redirect(url_for("web.access_page"))


@blueprint.route("/admin/access/feed-grant", methods=["POST"])
@admin_required
def feed_grant():
    form = FeedGrantForm()
    peer, rights = (form.peer.data or "").strip(), form.rights.data or ""
    return _act(form, lambda node, by: access.grant(node, form.feed.data, peer, read="read" in rights,
                                                    write="write" in rights, by=by),
                gettext(GRANTED.get(rights, GRANTED["read"]), feed=form.feed.data, peer=peer))


@blueprint.route("/admin/access/feed-revoke", methods=["POST"])
@admin_required
def feed_revoke():
    form = FeedRevokeForm()
    return _act(form, lambda node, by: access.revoke(node, form.feed.data, form.peer.data, by=by),
                gettext("Feed %(feed)s: %(peer)s may no longer read or write it.", feed=form.feed.data,
                        peer=form.peer.data))


@blueprint.route("/admin/access/token-revoke", methods=["POST"])
@admin_required
def token_revoke():
    form = NamedForm()
    return _act(form, lambda node, by: tokens.revoke(node.store, form.name.data, by=by),
                gettext("Revoked the token(s) of %(peer)s.", peer=form.name.data))


@blueprint.route("/admin/access/user-remove", methods=["POST"])
@admin_required
def user_remove():
    form = NamedForm()

    def remove(node, by):
        if form.name.data == current_user.name:
            raise QalqanError("you cannot remove your own account while logged in with it")
        users.remove_user(node.store, form.name.data, by=by)
    return _act(form, remove, gettext("Removed the account %(user)s; its sessions ended.", user=form.name.data))


@blueprint.route("/admin/access/trust-remove", methods=["POST"])
@admin_required
def trust_remove():
    form = NamedForm()
    return _act(form, lambda node, by: access.remove_trust(node, form.name.data, by=by),
                gettext("Unpinned the card of %(node)s.", node=form.name.data))


@blueprint.route("/admin/access/feed-add", methods=["POST"])
@admin_required
def feed_add():
    form = FeedAddForm()
    name = (form.name.data or "").strip()
    return _act(form, lambda node, by: access.add_feed(node, name, form.max_tlp.data or "",
                                                       (form.title.data or "").strip() or None, by=by),
                gettext("Feed %(feed)s made; nobody may read it yet.", feed=name))


@blueprint.route("/admin/access/token-create", methods=["POST"])
@admin_required
def token_create():
    form = TokenCreateForm()
    if not form.validate_on_submit():
        abort(400)
    peer = (form.name.data or "").strip()
    try:
        secret = current_node().create_token(peer, keep_old=form.keep_old.data, by=f"admin {current_user.name}")
    except QalqanError as exc:
        flash(gettext("Not changed: %(reason)s", reason=exc.message))
        return redirect(url_for("web.access_page"))
    response = make_response(_render({"peer": peer, "secret": secret, "kept": form.keep_old.data}))
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/admin/access/peer-remove", methods=["POST"])
@admin_required
def peer_remove():
    form = NamedForm()
    return _act(form, lambda node, by: access.remove_peer(node, form.name.data, by=by),
                gettext("Removed peer %(peer)s: its feed rights, tokens and sync state are gone.",
                        peer=form.name.data))


@blueprint.route("/admin/access/user-passwd", methods=["POST"])
@admin_required
def user_passwd():
    form = PasswordSetForm()
    return _act(form, lambda node, by: users.set_password(node.store, form.name.data, form.password.data or "",
                                                          by=by),
                gettext("New password for %(user)s; its sessions ended.", user=form.name.data))
