"""The response form in a real browser (Chromium via Playwright, against `qalqan serve` on
loopback): an analyst records a response to an incident, is told what is missing, picks
DISARM countermeasures by search and plain clicks, then finds it on the incident page and
on the dashboard (issue 12, point 4)."""
from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from node.home import Node
from node.response_index import responses_of
from node.wellknown import RESPONSE_EXT
from test_browser_ui import browser, log_in, page, served_node, shot  # noqa: F401  (fixtures)
from web_fixtures import incident_record


def click_countermeasure(page, value: str) -> None:
    """A plain mouse click on an option of the countermeasure list, as an analyst clicks it."""
    option = page.locator(f'select#countermeasures option[value="{value}"]')
    option.scroll_into_view_if_needed()
    box = option.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def test_an_analyst_records_a_response_in_a_real_browser(served_node, page):  # noqa: F811
    home, base = served_node
    incident = Node(home).add_incident(incident_record(tlp="amber", first_seen="2026-11-20T08:00:00Z")).incident_id
    log_in(page, base)
    page.goto(f"{base}/incidents/{incident}")
    page.get_by_role("link", name="Record a response").click()
    expect(page).to_have_url(f"{base}/incidents/{incident}/responses/new")
    expect(page.get_by_label("When")).to_have_value(re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$"))  # now, UTC

    page.get_by_label("Kind").select_option("debunk-published")
    page.get_by_label("When").fill("2026-11-20 14:00")
    page.get_by_role("button", name="Sign and record the response").click()
    expect(page.locator("#row-description .field-error")).to_contain_text("this field is required")
    expect(page.locator("#error-summary")).to_contain_text("Nothing was recorded")
    expect(page.get_by_label("When")).to_have_value("2026-11-20 14:00")  # what was typed stays

    page.get_by_label("Description").fill("Our desk published a debunk in Kazakh and Russian.")
    page.get_by_label("URL").fill("https://factcheck.example.kz/border")
    page.get_by_label("Find a DISARM countermeasure").fill("prebunk")
    expect(page.locator('select#countermeasures option[value="C00008"]')).to_be_hidden()
    click_countermeasure(page, "C00125")
    page.get_by_label("Find a DISARM countermeasure").fill("fact-checking database")
    click_countermeasure(page, "C00008")
    click_countermeasure(page, "C00014")
    click_countermeasure(page, "C00014")  # a second plain click takes it out again
    chips = page.locator("#countermeasures-picked .chip")
    expect(chips).to_have_count(2)
    expect(chips.first).to_contain_text("C00008 Create shared fact-checking database")
    shot(page, "response-form")
    page.get_by_role("button", name="Sign and record the response").click()

    expect(page).to_have_url(f"{base}/incidents/{incident}#responses")
    section = page.locator("#responses")
    expect(section).to_contain_text("Debunk published")
    expect(section).to_contain_text("Nov 20, 2026, 2:00 PM UTC")
    expect(section).to_contain_text("kz (KZ) — this node")
    expect(section).to_contain_text("C00125 Prebunking")
    expect(section.get_by_role("link", name="https://factcheck.example.kz/border")).to_have_count(1)
    shot(page, "incident-responses")

    [row] = responses_of(Node(home).store.conn, incident)
    action = json.loads(Node(home).store.object_json(row["response_id"]))
    assert action["extensions"][RESPONSE_EXT]["countermeasures"] == ["C00008", "C00125"]
    assert row["recorded_by"] == "ana" and row["tlp"] == "amber"

    page.goto(f"{base}/dashboard")
    expect(page.locator("#first-response")).to_contain_text("Median time from first seen to the first response: 6.0 h")
    expect(page.locator("#charts")).to_have_attribute("data-ready", "true")
    expect(page.locator("#chart-responses")).to_be_visible()
    shot(page, "dashboard-responses")
    expected = ("400 ", "Failed to load resource: the server responded with a status of 400")  # the refusal
    assert [p for p in page.problems if not p.startswith(expected)] == [], page.problems
