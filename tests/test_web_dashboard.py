"""The dashboard: chart data over own and received incidents, drawn by Chart.js."""
import re

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
    assert data == {"per_week": {"weeks": [], "series": {}}, "techniques": [], "platforms": [], "verdicts": []}


def test_the_dashboard_draws_with_the_bundled_chart_js_and_no_inline_script(analyst):
    html = analyst.get("/dashboard").text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/assets/' in attrs and body.strip() == "" for attrs, body in scripts)
    assert 'src="/assets/vendor/chartjs/chart.umd.min.js"' in html
    assert 'data-src="/dashboard/data.json"' in html
    library = analyst.get("/assets/vendor/chartjs/chart.umd.min.js")
    assert library.status_code == 200 and b"Chart.js v4" in library.data
