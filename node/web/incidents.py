"""Incident pages: the list with filters, the form, one incident, its STIX bundle."""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone

from flask import Response, abort, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from ..appctx import current_node
from ..errors import InputError, QalqanError
from ..i18n import error_text, gettext
from ..incident import VERDICTS
from ..policy import TLP_ORDER
from ..incident_history import history
from ..incident_index import disinfo_of, strings
from ..markings import MARKING, BundleMarkings
from ..similar_claims import THRESHOLD
from . import blueprint
from .csvexport import incidents_csv
from .forms import IncidentForm
from .index import (OBSERVABLE_TYPES, PAGE_SIZE, Filters, count_incidents, describe_observable, indexed_incident,
                    list_incidents, related_incidents, similar_claims, term_values)
from .provenance import provenance_of
from .sharing import feed_in_words, reach_table
from .watches import FROM_LIST as WATCH_FILTERS

INCIDENT_ID_RE = re.compile(r"^incident--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
FILTER_TERMS = {"platform": "platform", "country": "country", "technique": "technique", "tlp": "tlp",
                "verdict": "verdict", "node": "node", "state": "state", "opinion": "opinion"}


# -- list ---------------------------------------------------------------------------------

def _day_us(text: str, field: str, errors: list[str]) -> int | None:
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        errors.append(gettext("%(field)s: %(value)r is not a date such as 2026-11-20", field=field, value=text))
        return None
    return int(day.timestamp()) * 1_000_000


def filters_from(args: MultiDict) -> tuple[Filters, list[str]]:
    errors: list[str] = []
    terms = {kind: args.get(name, "").strip() for name, kind in FILTER_TERMS.items() if args.get(name, "").strip()}
    until = _day_us(args.get("to", "").strip(), "to", errors)
    before = args.get("before", "")
    return Filters(
        text=args.get("q", ""),
        terms=terms,
        seen_from_us=_day_us(args.get("from", "").strip(), "from", errors),
        seen_until_us=None if until is None else until + 86_400_000_000,
        before=int(before) if before.isdigit() and len(before) <= 18 else None,  # row numbers fit SQLite's int64
    ), errors


@blueprint.route("/incidents")
def incident_list():
    node = current_node()
    filters, errors = filters_from(request.args)
    rows = list_incidents(node.store, filters)
    page, has_more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    total, capped = count_incidents(node.store, filters)
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    older = url_for("web.incident_list", **args, before=page[-1]["n"]) if has_more else None
    first = url_for("web.incident_list", **args) if filters.before is not None else None
    options = {
        "platform": term_values(node.store, "platform"),
        "country": term_values(node.store, "country"),
        "technique": term_values(node.store, "technique"),
        "tlp": list(TLP_ORDER),
        "verdict": list(VERDICTS),
        "node": [(c["identity"], f"{c['name']} ({c['country']})") for c in node.trust.cards()],
    }
    return render_template("incidents/list.html", rows=page, total=total, capped=capped, older=older,
                           first=first, args=request.args, csv_args=args, options=options, errors=errors,
                           watch_args={**{k: v for k, v in args.items() if k in WATCH_FILTERS}, "from": "list"},
                           technique_names={t: node.disarm.name(t) for t in options["technique"]})


@blueprint.route("/incidents.csv")
def incident_list_csv():
    """What the list shows for the same filters, every page of it, as CSV."""
    filters, errors = filters_from(request.args)
    if errors:
        abort(400, errors[0])
    return Response(incidents_csv(current_node().store, filters), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="incidents.csv"'})


# -- form -----------------------------------------------------------------------------------

def _incident_form() -> IncidentForm:
    node = current_node()
    return IncidentForm(node.disarm, node.config.feeds, node.config["default_tlp"])


@blueprint.route("/incidents/new", methods=["GET", "POST"])
def incident_new():
    node = current_node()
    form = _incident_form()
    status = 200
    if form.validate_on_submit():
        record = form.record()
        if record is not None:
            try:
                result = node.add_incident(record)
            except InputError as exc:
                form.show_error(exc)
            except QalqanError as exc:
                form.form_errors.append(exc.message)
            else:
                flash(gettext("Recorded and signed: %(incident)s in %(report)s.", incident=result.incident_id,
                              report=result.report_id))
                return redirect(url_for("web.incident_show", incident_id=result.incident_id))
        status = 400
    elif request.method == "POST":
        status = 400  # a missing or stale CSRF token
    feeds = node.config.feeds
    return render_template("incidents/new.html", form=form, reach=reach_table(feeds),
                           feed_words={name: feed_in_words(f) for name, f in feeds.items()}), status


# -- one incident -------------------------------------------------------------------------

def held_or_back(lookup, incident_id: str):
    """`lookup(node, incident_id)` (a library call that names what is wrong), or back to
    the incident's page with its error."""
    if not INCIDENT_ID_RE.match(incident_id):
        abort(404)
    try:
        return lookup(current_node(), incident_id)
    except InputError as exc:
        flash(error_text(exc))
        abort(redirect(url_for("web.incident_show", incident_id=incident_id)))


def _stored(incident_id: str) -> dict:
    if not INCIDENT_ID_RE.match(incident_id):
        abort(404)
    row = current_node().store.one("SELECT * FROM objects WHERE id = ? AND latest = 1", [incident_id])
    if row is None:
        abort(404)
    return row


def bundle_rows(incident_id: str, report_id: str | None) -> list[dict]:
    """The stored rows of the incident's STIX objects: report, incident, what the report refers to."""
    store = current_node().store
    ids = [incident_id]
    if report_id:
        ids = [report_id, incident_id] + [r["ref"] for r in store.query(
            "SELECT ref FROM report_refs WHERE report = ? ORDER BY ref", [report_id]) if r["ref"] != incident_id]
    rows = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows += store.query("SELECT id, version, type, tlp, created_by, json FROM objects WHERE latest = 1 AND id IN"
                            f" ({', '.join('?' for _ in chunk)})", chunk)
    order = {oid: i for i, oid in enumerate(ids)}
    return sorted(rows, key=lambda r: order[r["id"]])


def incident_details(incident: dict, neighbours: list[dict]) -> dict:
    """What the page shows, read defensively: a partner may have signed anything."""
    ext = disinfo_of(incident)
    node = current_node()
    refs = [r for r in incident.get("external_references") or [] if isinstance(r, dict)] \
        if isinstance(incident.get("external_references"), list) else []
    by_kind: dict[str, list[str]] = {}
    for obj in neighbours:
        if obj["type"] in OBSERVABLE_TYPES:
            kind, value = describe_observable(obj)
            by_kind.setdefault(kind, []).append(value)
    text = lambda key: ext.get(key) if isinstance(ext.get(key), str) else None  # noqa: E731
    return {
        "claim": text("claim"), "verdict": text("verdict"), "case_id": text("case_id"),
        "languages": strings(ext.get("languages")), "first_seen": text("first_seen"),
        "last_seen": text("last_seen"), "platforms": strings(ext.get("platforms")),
        "target_countries": strings(ext.get("target_countries")),
        "disarm": [(t, node.disarm.name(t)) for t in strings(ext.get("disarm_techniques"))],
        "fact_check_urls": [r["url"] for r in refs if r.get("source_name") == "fact-check"
                            and isinstance(r.get("url"), str)],
        "threat_actors": strings([o.get("name") for o in neighbours if o["type"] == "threat-actor"]),
        "urls": by_kind.get("url", []), "domains": by_kind.get("domain-name", []),
        "accounts": by_kind.get("account", []), "media": by_kind.get("media", []),
    }


@blueprint.route("/incidents/<incident_id>")
def incident_show(incident_id: str):
    from .responses import shown_responses
    node = current_node()
    stored = _stored(incident_id)
    incident = json.loads(stored["json"])
    entry = indexed_incident(node.store, incident_id) or {}
    rows = bundle_rows(incident_id, entry.get("report_id"))
    objects = [json.loads(r["json"]) for r in rows]
    feeds = {f.id: f for f in node.config.feeds.values()}
    in_feeds = [feeds[f] for f in node.store.feeds_of(incident_id) if f in feeds]
    from .reactions import reactions_context
    own = stored["created_by"] == node.config.identity
    return render_template(
        "incidents/show.html", incident=incident, entry=entry, stored=stored, **reactions_context(incident_id, own),
        details=incident_details(incident, objects),
        objects=rows, in_feeds=in_feeds, provenance=provenance_of(node, incident, stored),
        related=related_incidents(node.store, incident_id),
        similar=similar_claims(node.store, incident_id), similar_from=THRESHOLD,
        changes=history(node.store, incident_id, entry.get("report_id")), own=own,
        responses=shown_responses(incident_id))


@blueprint.route("/incidents/<incident_id>/stix.json")
def incident_bundle(incident_id: str):
    """The incident's STIX objects as a bundle: stored canonical JSON, byte for byte,
    plus the signer's card so the file verifies on its own (`qalqan verify`), and the
    marking-definitions they reference (node/markings.py)."""
    node = current_node()
    stored = _stored(incident_id)
    entry = indexed_incident(node.store, incident_id) or {}
    rows = [r for r in bundle_rows(incident_id, entry.get("report_id")) if r["type"] != MARKING]
    card = node.store.one("SELECT id, json FROM objects WHERE id = ? AND latest = 1", [stored["created_by"] or ""])
    texts = [r["json"] for r in rows] + ([card["json"]] if card and card["id"] not in {r["id"] for r in rows} else [])
    markings = BundleMarkings()
    for text in texts:
        markings.seen_object(json.loads(text))
    texts += markings.tail(node.store)
    body = '{"type":"bundle","id":"bundle--%s","objects":[\n%s\n]}\n' % (uuid.uuid4(), ",\n".join(texts))
    return Response(body, mimetype="application/stix+json;version=2.1", headers={
        "Content-Disposition": f'attachment; filename="{incident_id}.json"'})

