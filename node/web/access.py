"""Admin access page: feeds with their readers and writers, peer tokens, web accounts
and pinned cards, with the same changes as `qalqan feed|token|user|trust` — these
views call node/access.py, tokens.py and users.py, which audit every change (by
"admin NAME")."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from .. import access, tokens, users
from ..appctx import current_node
from ..errors import QalqanError
from . import blueprint
from .auth import admin_required
from .forms import FeedGrantForm, FeedRevokeForm, NamedForm


@blueprint.route("/admin/access")
@admin_required
def access_page():
    node = current_node()
    return render_template("admin/access.html", feeds=list(node.config.feeds.values()),
                           tokens=tokens.list_tokens(node.store), users=users.list_users(node.store),
                           cards=access.list_trusted(node), grant_form=FeedGrantForm(), post_form=NamedForm())


def _act(form, change, done: str):
    """Validate the form's CSRF token, make the change, say what happened or why not."""
    if not form.validate_on_submit():
        abort(400)
    try:
        change(current_node(), f"admin {current_user.name}")
    except QalqanError as exc:
        flash(f"Not changed: {exc.message}")
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
                f"Feed {form.feed.data}: {peer} may {rights}.")


@blueprint.route("/admin/access/feed-revoke", methods=["POST"])
@admin_required
def feed_revoke():
    form = FeedRevokeForm()
    return _act(form, lambda node, by: access.revoke(node, form.feed.data, form.peer.data, by=by),
                f"Feed {form.feed.data}: {form.peer.data} may no longer read or write it.")


@blueprint.route("/admin/access/token-revoke", methods=["POST"])
@admin_required
def token_revoke():
    form = NamedForm()
    return _act(form, lambda node, by: tokens.revoke(node.store, form.name.data, by=by),
                f"Revoked the token(s) of {form.name.data}.")


@blueprint.route("/admin/access/user-remove", methods=["POST"])
@admin_required
def user_remove():
    form = NamedForm()

    def remove(node, by):
        if form.name.data == current_user.name:
            raise QalqanError("you cannot remove your own account while logged in with it")
        users.remove_user(node.store, form.name.data, by=by)
    return _act(form, remove, f"Removed the account {form.name.data}; its sessions ended.")


@blueprint.route("/admin/access/trust-remove", methods=["POST"])
@admin_required
def trust_remove():
    form = NamedForm()
    return _act(form, lambda node, by: access.remove_trust(node, form.name.data, by=by),
                f"Unpinned the card of {form.name.data}.")
