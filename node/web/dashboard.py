"""The dashboard: counts over the incident and response indexes, drawn by Chart.js in
the browser (static/dashboard.js fetches /dashboard/data.json; no inline script)."""
from __future__ import annotations

import statistics
import textwrap
from datetime import date, timedelta

from flask import jsonify, render_template

from ..appctx import current_node
from ..responses import kind_label
from ..store import Store
from ..timefmt import now_us
from . import blueprint
from .filters import verdict_label

WEEKS = 26
WEEK_US = 7 * 86_400 * 1_000_000


def incidents_per_week(store: Store, weeks: int = WEEKS) -> dict:
    """Incidents by the week their content was first seen, one series per source country
    (the country of the node that signed them), over the latest `weeks` weeks with data."""
    return _per_week(store, "web_incidents i LEFT JOIN cards c ON c.identity = i.created_by", "i.first_seen_us",
                     "COALESCE(c.country, '?')", weeks)


def responses_per_week(store: Store, weeks: int = WEEKS) -> dict:
    """Responses by the week they were taken, one series per kind (labelled)."""
    per_week = _per_week(store, "web_responses r", "r.taken_us", "COALESCE(r.kind, '?')", weeks)
    return {**per_week, "series": {kind_label(k): v for k, v in per_week["series"].items()}}


def _per_week(store: Store, table: str, time_us: str, series_of: str, weeks: int) -> dict:
    """Counts of `table` rows by the week (Monday) of `time_us`, one series per value of
    `series_of`, over the latest `weeks` weeks with data. The arguments are SQL of this
    module, never of a request."""
    # A time in the future is a mistake or a prank: it must not push every real row off
    # the chart (nor take the chart past year 9999).
    horizon = now_us() + WEEK_US
    newest = store.one(f"SELECT MAX({time_us}) AS us FROM {table} WHERE {time_us} <= ?", [horizon])["us"]
    if newest is None:
        return {"weeks": [], "series": {}}
    since = newest - weeks * WEEK_US
    rows = store.query(
        f"SELECT date({time_us} / 1000000, 'unixepoch', '-6 days', 'weekday 1') AS week,"
        f" {series_of} AS series, COUNT(*) AS n FROM {table}"
        f" WHERE {time_us} > ? AND {time_us} <= ? GROUP BY week, series ORDER BY week", [since, horizon])
    rows = [r for r in rows if r["week"] is not None]
    if not rows:
        return {"weeks": [], "series": {}}
    weeks = _every_week(min(r["week"] for r in rows), max(r["week"] for r in rows))
    position = {week: i for i, week in enumerate(weeks)}
    series: dict[str, list[int]] = {}
    for r in rows:
        series.setdefault(r["series"], [0] * len(weeks))[position[r["week"]]] = r["n"]
    return {"weeks": weeks, "series": dict(sorted(series.items()))}


# Time from an incident's first_seen to its first response, in buckets (upper bounds, hours).
DELAY_BUCKETS = ((0, "before first seen"), (1, "under 1 h"), (6, "1–6 h"), (24, "6–24 h"), (72, "1–3 days"),
                 (168, "3–7 days"), (672, "1–4 weeks"), (None, "over 4 weeks"))
HOUR_US = 3_600 * 1_000_000


def first_response_delays(store: Store) -> list[int]:
    """Per incident with a response, µs from its first_seen to its first response's time
    (negative for a response before it was first seen: prebunking)."""
    rows = store.query("SELECT MIN(r.taken_us) - i.first_seen_us AS delay FROM web_responses r"
                       " JOIN web_incidents i ON i.incident_id = r.incident_id"
                       " WHERE i.first_seen_us IS NOT NULL GROUP BY r.incident_id")
    return [r["delay"] for r in rows]


def first_response(store: Store) -> dict:
    """The median delay and its distribution over DELAY_BUCKETS."""
    delays = first_response_delays(store)
    counts = [0] * len(DELAY_BUCKETS)
    for delay in delays:
        counts[next(i for i, (hours, _) in enumerate(DELAY_BUCKETS) if hours is None or delay < hours * HOUR_US)] += 1
    median = statistics.median(delays) if delays else None
    return {"incidents": len(delays), "median_hours": None if median is None else round(median / HOUR_US, 1),
            "median_words": None if median is None else duration_words(median),
            "buckets": [{"label": label, "n": n} for (_, label), n in zip(DELAY_BUCKETS, counts)]}


def duration_words(us: float) -> str:
    """A delay as an analyst reads it: minutes, hours or days; "before" when negative."""
    hours = abs(us) / HOUR_US
    if hours < 1:
        text = f"{round(hours * 60)} min"
    elif hours < 48:
        text = f"{hours:.1f} h"
    else:
        text = f"{hours / 24:.1f} days"
    return f"{text} before first seen" if us < 0 else text


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
    responses = store.one("SELECT COUNT(*) AS n FROM web_responses")["n"]
    return render_template("dashboard.html", total=total, responses=responses, first_response=first_response(store))


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
        "responses_per_week": responses_per_week(store),
        "first_response": first_response(store),
    })
