"""The public pages: the index (search, paging, one language), one debunk, the Atom feed.

Every answer is cacheable: an ETag of its body (a repeated request with If-None-Match
gets 304), a Last-Modified on debunk pages and `Cache-Control: public, max-age=300`.
"""
from __future__ import annotations

import json
import re

from flask import Response, abort, current_app, render_template, request, url_for
from markupsafe import Markup

from ..appctx import current_node
from ..i18n import gettext, http_error_words
from ..incident_index import PUBLIC_TERM, disinfo_of
from ..policy import is_public_debunk
from ..store import Store
from ..web.incidents import INCIDENT_ID_RE, bundle_rows, incident_details
from ..web.index import PAGE_SIZE, Filters, count_incidents, list_incidents
from ..web.provenance import provenance_of
from ..web.security import set_security_headers
from . import blueprint
from .claimreview import VERDICT_WORDS, claim_review, json_ld
from .feed import atom_feed, stix_datetime

LANG_RE = re.compile(r"^[a-z]{2}$")
FEED_SIZE = 50
MAX_AGE = 300  # seconds a browser or shared cache may keep a public answer


@blueprint.before_request
def only_when_enabled():
    if not current_node().config["public.enabled"]:
        abort(404)


@blueprint.after_request
def cacheable(response: Response) -> Response:
    set_security_headers(response)
    response.vary.add("Accept-Language")  # without ?lang=, the browser's language picks the page's (node/i18n.py)
    if response.status_code in (200, 304):
        response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
        response.add_etag()
        response.make_conditional(request)
    else:
        response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.errorhandler(400)
@blueprint.errorhandler(404)
def public_error(error):
    name, description = http_error_words(error)
    return render_template("public/error.html", code=error.code, name=name, description=description), error.code


def _language() -> str | None:
    lang = request.args.get("lang", "").strip()
    if lang and not LANG_RE.match(lang):
        abort(400, description=gettext("lang: expected a two-letter ISO 639-1 language code such as ru or kk"))
    return lang or None


def _filters(language: str | None, limit: int = PAGE_SIZE) -> Filters:
    before = request.args.get("before", "")
    terms = dict([PUBLIC_TERM] + ([("language", language)] if language else []))
    return Filters(text=request.args.get("q", ""), terms=terms, limit=limit,
                   before=int(before) if before.isdigit() and len(before) <= 18 else None)


def _absolute(endpoint: str, **values) -> str:
    """A canonical URL on the node's public base URL (node.url), for feeds and markup."""
    return current_node().config["node.url"].rstrip("/") + url_for(endpoint, **values)


def _organisation() -> str:
    node = current_node()
    card = node.store.one("SELECT name FROM cards WHERE identity = ?", [node.config.identity])
    return card["name"] if card else node.config.name


def _with_text(store: Store, rows: list[dict]) -> list[dict]:
    """Add what lists do not carry (claim, summary, version) and each debunk's page URL."""
    if rows:
        ns = [r["n"] for r in rows]
        extra = {r["n"]: r for r in store.query(
            f"SELECT n, claim, summary, version FROM web_incidents WHERE n IN ({', '.join('?' for _ in ns)})", ns)}
        for row in rows:
            row.update(claim=extra[row["n"]]["claim"], summary=extra[row["n"]]["summary"],
                       version=extra[row["n"]]["version"],
                       url=_absolute("public.debunk", incident_id=row["incident_id"]))
    return rows


@blueprint.route("/")
def index():
    node = current_node()
    language = _language()
    filters = _filters(language)
    rows = list_incidents(node.store, filters)
    page, has_more = _with_text(node.store, rows[:PAGE_SIZE]), len(rows) > PAGE_SIZE
    total, capped = count_incidents(node.store, filters)
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    return render_template(
        "public/index.html", rows=page, total=total, capped=capped, q=filters.text, language=language,
        older=url_for("public.index", **args, before=page[-1]["n"]) if has_more else None,
        first=url_for("public.index", **args) if filters.before is not None else None,
        organisation=_organisation(), verdict_words=VERDICT_WORDS)


@blueprint.route("/feed.atom")
def feed():
    node = current_node()
    language = _language()
    rows = _with_text(node.store, list_incidents(node.store, Filters(terms=_filters(language).terms))[:FEED_SIZE])
    body = atom_feed(feed_url=_absolute("public.feed", **({"lang": language} if language else {})),
                     index_url=_absolute("public.index"), organisation=_organisation(), language=language,
                     debunks=rows)
    return Response(body, mimetype="application/atom+xml")


@blueprint.route("/incidents/<incident_id>")
def debunk(incident_id: str):
    node = current_node()
    stored = node.store.one("SELECT * FROM objects WHERE id = ? AND latest = 1", [incident_id]) \
        if INCIDENT_ID_RE.match(incident_id) else None
    incident = json.loads(stored["json"]) if stored else {}
    verdict = disinfo_of(incident).get("verdict")
    if stored is None or not is_public_debunk(stored["tlp"], verdict, incident.get("revoked")):
        abort(404)
    entry = node.store.one("SELECT report_id FROM web_incidents WHERE incident_id = ?", [incident_id]) or {}
    # Only what is itself TLP:CLEAR goes public (an observable may be held in a stricter variant).
    clear = [json.loads(r["json"]) for r in bundle_rows(incident_id, entry.get("report_id")) if r["tlp"] == "clear"]
    details = incident_details(incident, clear)
    provenance = provenance_of(node, incident, stored)
    organisation = provenance.signer_name or provenance.signer_id or gettext("unknown organisation")
    page_url = _absolute("public.debunk", incident_id=incident_id)
    markup = claim_review(
        page_url=page_url, claim=details["claim"] or incident.get("name") or incident_id, verdict=verdict,
        organisation=organisation, organisation_url=node.config["node.url"] if provenance.is_this_node else None,
        published=incident.get("created", ""), language=incident.get("lang"), first_seen=details["first_seen"],
        spread_urls=[u for u in details["urls"] if u.startswith(("https://", "http://"))])
    response = current_app.make_response(render_template(
        "public/debunk.html", incident=incident, details=details, provenance=provenance, page_url=page_url,
        organisation=organisation, verdict_word=VERDICT_WORDS.get(verdict, verdict),
        json_ld=Markup(json_ld(markup))))
    modified = stix_datetime(incident.get("modified") or incident.get("created"))
    if modified:
        response.last_modified = modified
    return response
