"""The dashboard: counts over the incident index, drawn by Chart.js in the browser
(static/dashboard.js fetches /dashboard/data.json; no inline script)."""
from __future__ import annotations

import textwrap
from datetime import date, timedelta

from flask import jsonify, render_template

from ..appctx import current_node
from ..store import Store
from ..timefmt import now_us
from . import blueprint
from .filters import verdict_label

WEEKS = 26
WEEK_US = 7 * 86_400 * 1_000_000


def incidents_per_week(store: Store, weeks: int = WEEKS) -> dict:
    """Incidents by the week their content was first seen, one series per source country
    (the country of the node that signed them), over the latest `weeks` weeks with data."""
    # A first_seen in the future is a mistake or a prank: it must not push every real
    # incident off the chart (nor take the chart past year 9999).
    horizon = now_us() + WEEK_US
    newest = store.one("SELECT MAX(first_seen_us) AS us FROM web_incidents WHERE first_seen_us <= ?",
                       [horizon])["us"]
    if newest is None:
        return {"weeks": [], "series": {}}
    since = newest - weeks * WEEK_US
    rows = store.query(
        "SELECT date(i.first_seen_us / 1000000, 'unixepoch', '-6 days', 'weekday 1') AS week,"
        " COALESCE(c.country, '?') AS country, COUNT(*) AS n"
        " FROM web_incidents i LEFT JOIN cards c ON c.identity = i.created_by"
        " WHERE i.first_seen_us > ? AND i.first_seen_us <= ? GROUP BY week, country ORDER BY week",
        [since, horizon])
    rows = [r for r in rows if r["week"] is not None]
    if not rows:
        return {"weeks": [], "series": {}}
    weeks = _every_week(min(r["week"] for r in rows), max(r["week"] for r in rows))
    position = {week: i for i, week in enumerate(weeks)}
    series: dict[str, list[int]] = {}
    for r in rows:
        series.setdefault(r["country"], [0] * len(weeks))[position[r["week"]]] = r["n"]
    return {"weeks": weeks, "series": dict(sorted(series.items()))}


def _every_week(first: str, last: str) -> list[str]:
    """Mondays from first to last, so a quiet week shows as a gap, not as nothing."""
    day, end = date.fromisoformat(first), date.fromisoformat(last)
    weeks = []
    while day <= end:
        weeks.append(day.isoformat())
        day += timedelta(days=7)
    return weeks


def top_terms(store: Store, kind: str, limit: int = 10) -> list[tuple[str, int]]:
    rows = store.query("SELECT value, COUNT(*) AS n FROM web_incident_terms WHERE kind = ?"
                       " GROUP BY value ORDER BY n DESC, value LIMIT ?", [kind, limit])
    return [(r["value"], r["n"]) for r in rows]


def _wrap(text: str, width: int = 34) -> list[str]:
    """A long technique name as chart-label lines (Chart.js draws a list as lines)."""
    return textwrap.wrap(text, width)[:2] if text else []


@blueprint.route("/dashboard")
def dashboard():
    store = current_node().store
    total = store.one("SELECT COUNT(*) AS n FROM web_incidents")["n"]
    return render_template("dashboard.html", total=total)


@blueprint.route("/dashboard/data.json")
def dashboard_data():
    node = current_node()
    store = node.store
    techniques = top_terms(store, "technique")
    return jsonify({
        "per_week": incidents_per_week(store),
        "techniques": [{"label": f"{t} {node.disarm.name(t) or ''}".strip(), "id": t, "n": n,
                        "lines": [t, *_wrap(node.disarm.name(t) or "")]} for t, n in techniques],
        "platforms": [{"label": p, "n": n} for p, n in top_terms(store, "platform", 12)],
        "verdicts": [{"label": verdict_label(v), "id": v, "n": n} for v, n in top_terms(store, "verdict", 12)],
    })
