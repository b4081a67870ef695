"""The dashboard: chart data over own and received incidents, drawn by Chart.js."""
import re

from node.web.dashboard import DELAY_BUCKETS
from web_fixtures import import_from, incident_record


def test_the_dashboard_data_counts_incidents_by_week_country_technique_platform_and_verdict(analyst, node, uz):
    node.add_incident(incident_record(first_seen="2026-11-16", disarm=["T0023"], platforms=["telegram"]))
    node.add_incident(incident_record(first_seen="2026-11-22", disarm=["T0023", "T0086.002"],
                                      platforms=["telegram", "tiktok"], verdict="false"))
    uz.add_incident(incident_record(first_seen="2026-11-10", disarm=["T0023"], platforms=["youtube"]))
    import_from(node, uz)
    data = analyst.get("/dashboard/data.json").json
    assert data["per_week"] == {"weeks": ["2026-11-09", "2026-11-16"], "series": {"KZ": [0, 2], "UZ": [1, 0]}}
    assert data["techniques"][0] == {"id": "T0023", "label": "T0023 Distort Facts", "n": 3,
                                     "lines": ["T0023", "Distort Facts"]}
    assert {p["label"]: p["n"] for p in data["platforms"]} == {"telegram": 2, "tiktok": 1, "youtube": 1}
    assert {v["id"]: v["n"] for v in data["verdicts"]} == {"fabricated": 2, "false": 1}
    assert {v["id"]: v["label"] for v in data["verdicts"]} == {"fabricated": "Fabricated", "false": "False"}


def test_weeks_without_incidents_are_shown_as_zero(analyst, node):
    node.add_incident(incident_record(first_seen="2026-10-28"))
    node.add_incident(incident_record(first_seen="2026-11-20"))
    data = analyst.get("/dashboard/data.json").json
    assert data["per_week"] == {"weeks": ["2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16"],
                                "series": {"KZ": [1, 0, 0, 1]}}


def test_an_empty_node_has_empty_charts(analyst):
    data = analyst.get("/dashboard/data.json").json
    assert data == {"per_week": {"weeks": [], "series": {}}, "techniques": [], "platforms": [], "verdicts": [],
                    "responses_per_week": {"weeks": [], "series": {}},
                    "first_response": {"incidents": 0, "median_hours": None, "median_words": None,
                                       "buckets": [{"label": label, "n": 0} for _, label in DELAY_BUCKETS]}}
    assert "No incident held here has a response yet." in analyst.get("/dashboard").text


def test_the_dashboard_draws_with_the_bundled_chart_js_and_no_inline_script(analyst):
    html = analyst.get("/dashboard").text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/assets/' in attrs and body.strip() == "" for attrs, body in scripts)
    assert 'src="/assets/vendor/chartjs/chart.umd.min.js"' in html
    assert 'data-src="/dashboard/data.json"' in html
    library = analyst.get("/assets/vendor/chartjs/chart.umd.min.js")
    assert library.status_code == 200 and b"Chart.js v4" in library.data


def respond(node, incident_id, at, kind="debunk-published"):
    return node.add_response(incident_id, {"kind": kind, "at": at, "description": "Done."})


def test_responses_count_per_week_by_kind_and_time_to_the_first_response_from_any_node(analyst, node, uz):
    first = node.add_incident(incident_record(first_seen="2026-11-16T08:00:00Z")).incident_id
    second = node.add_incident(incident_record(first_seen="2026-11-20T08:00:00Z")).incident_id
    third = node.add_incident(incident_record(first_seen="2026-11-20T08:00:00Z")).incident_id
    respond(node, first, "2026-11-16T08:30:00Z")                       # 30 min after first seen
    respond(node, first, "2026-11-17T08:00:00Z", "platform-notified")  # not the first: left out of the delay
    respond(node, third, "2026-11-15T08:00:00Z", "prebunking")         # before first seen
    # The second incident's first response is UZ's, received by import: 2 days after.
    uz.trust_card(node.card())
    import_from(uz, node)
    respond(uz, second, "2026-11-22T08:00:00Z", "content-removed")
    import_from(node, uz)

    data = analyst.get("/dashboard/data.json").json
    assert data["responses_per_week"] == {"weeks": ["2026-11-09", "2026-11-16"], "series": {
        "Content removed": [0, 1], "Debunk published": [0, 1], "Platform notified": [0, 1], "Prebunking": [1, 0]}}
    delays = data["first_response"]
    assert delays["incidents"] == 3 and delays["median_hours"] == 0.5 and delays["median_words"] == "30 min"
    assert {b["label"]: b["n"] for b in delays["buckets"] if b["n"]} == {
        "before first seen": 1, "under 1 h": 1, "1–3 days": 1}
    page = analyst.get("/dashboard").text
    assert "4 responses held" in page
    assert "Median time from first seen to the first response: <strong>30 min</strong>, over 3 incidents" in page
