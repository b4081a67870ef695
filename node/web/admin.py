"""Admin pages: peers and their sync state, the quarantine; the banner that tells
admins a config edit did not load."""
from __future__ import annotations

import json

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from ..appctx import current_node
from ..i18n import gettext, number
from ..verify import ACCEPTED, DUPLICATE, QUARANTINED, REJECTED
from ..sync.health import peer_states
from ..timefmt import us_to_taxii
from ..wellknown import NODE_KEYS_EXT
from . import blueprint
from .auth import admin_required
from .forms import PostForm, QuarantineDeleteForm

QUARANTINE_PAGE = 200


@blueprint.context_processor
def config_error_banner() -> dict:
    """`config_error` for base.html: the message of a config edit that does not load,
    shown to admins only (it names files and keys)."""
    if not (current_user.is_authenticated and current_user.is_admin):
        return {}
    error = current_node().config_error
    if error is None:
        return {}
    message, since = error
    return {"config_error": message, "config_error_since": us_to_taxii(since)}


@blueprint.route("/admin/peers")
@admin_required
def peers():
    node = current_node()
    state = peer_states(node.store)
    configured = [{"name": name, "url": p.url, "pull": p.pull, "push": p.push, "signed": p.signed,
                   **(state.get(name) or {})} for name, p in node.config.peers.items()]
    # Sync may have state for a peer since removed from config.yaml: show it too.
    unlisted = [row for name, row in state.items() if name not in node.config.peers]
    return render_template("admin/peers.html", peers=configured, unlisted=unlisted, cards=node.trust.cards())


@blueprint.route("/admin/quarantine")
@admin_required
def quarantine():
    store = current_node().store
    rows = store.query("SELECT q.id, q.version, q.digest, q.signer, q.key_id, q.reason, q.origin, q.source,"
                       " q.received FROM quarantine q ORDER BY q.received DESC LIMIT ?", [QUARANTINE_PAGE])
    total = store.one("SELECT COUNT(*) AS n FROM quarantine")["n"]
    return render_template("admin/quarantine.html", rows=rows, total=total, delete_form=QuarantineDeleteForm(),
                           recheck_form=PostForm(), claimed=_claimed_signers(store, {r["signer"] for r in rows}))


def _claimed_signers(store, signers: set) -> dict[str, str]:
    """identity → "name (country)" as its own card says, when that card waits in the
    quarantine too: unverified, but it tells the admin whose card to ask for."""
    signers = [s for s in signers if s]
    if not signers:
        return {}
    rows = store.query(f"SELECT id, json FROM quarantine WHERE id IN ({', '.join('?' for _ in signers)})", signers)
    claimed = {}
    for row in rows:
        card = json.loads(row["json"])
        country = ((card.get("extensions") or {}).get(NODE_KEYS_EXT) or {}).get("country")
        if card.get("type") == "identity" and isinstance(card.get("name"), str):
            claimed[row["id"]] = card["name"] + (f" ({country})" if isinstance(country, str) else "")
    return claimed


@blueprint.route("/admin/quarantine/delete", methods=["POST"])
@admin_required
def quarantine_delete():
    form = QuarantineDeleteForm()
    if not form.validate_on_submit():
        abort(400)
    store = current_node().store
    key = [form.id.data, form.version.data, form.digest.data]
    with store.transaction() as db:
        gone = db.execute("DELETE FROM quarantine WHERE id = ? AND version = ? AND digest = ?", key).rowcount
        if gone:
            store.audit("quarantine-deleted", form.id.data, form.version.data, None,
                        f"deleted by admin {current_user.name}")
    flash(gettext("Deleted %(object)s from the quarantine.", object=form.id.data) if gone
          else gettext("That object was no longer in the quarantine."))
    return redirect(url_for("web.quarantine"))


@blueprint.route("/admin/quarantine/recheck", methods=["POST"])
@admin_required
def quarantine_recheck():
    if not PostForm().validate_on_submit():
        abort(400)
    summary = current_node().ingest.release_quarantine()
    c = summary.counts
    flash(gettext("Re-checked the quarantine against the trust store: accepted %(accepted)s, duplicate %(duplicate)s, "
                  "quarantined %(quarantined)s, rejected %(rejected)s.", accepted=number(c[ACCEPTED]),
                  duplicate=number(c[DUPLICATE]), quarantined=number(c[QUARANTINED]), rejected=number(c[REJECTED])))
    return redirect(url_for("web.quarantine"))
