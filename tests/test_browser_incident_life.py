"""The correction and withdrawal forms in a real browser (Chromium via Playwright, against
`qalqan serve` on loopback): an analyst corrects an incident, is asked before the TLP is
lowered, then withdraws it with a reason (issue 12, point 1)."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from node.home import Node
from test_browser_ui import browser, log_in, page, served_node, shot  # noqa: F401  (fixtures)
from web_fixtures import incident_record


def test_an_analyst_corrects_then_withdraws_an_incident_in_a_real_browser(served_node, page):  # noqa: F811
    home, base = served_node
    first = Node(home).add_incident(incident_record(tlp="amber"))
    log_in(page, base)
    page.goto(f"{base}/incidents/{first.incident_id}")
    page.get_by_role("link", name="Correct").click()
    expect(page.get_by_label("Title")).to_have_value(incident_record()["title"])
    page.get_by_label("Title").fill("Border video: corrected title")
    page.get_by_label("Verdict").select_option("misleading")
    page.get_by_label("TLP", exact=True).select_option("green")
    page.get_by_role("button", name="Sign and publish the correction").click()

    expect(page.locator("#row-tlp .field-error")).to_contain_text("lowering it from amber to green")
    expect(page.get_by_label("Title")).to_have_value("Border video: corrected title")
    page.get_by_label(re.compile("lower the TLP")).check()
    page.get_by_role("button", name="Sign and publish the correction").click()

    expect(page).to_have_url(f"{base}/incidents/{first.incident_id}")
    expect(page.locator("#corrected")).to_contain_text("Corrected by the source on")
    expect(page.locator("#history")).to_contain_text("Border video: corrected title")
    expect(page.locator("#history")).to_contain_text("misleading")
    shot(page, "incident-corrected")

    page.get_by_role("link", name="Withdraw").click()
    page.get_by_role("button", name="Withdraw the incident").click()
    expect(page.locator("#row-reason .field-error")).to_be_visible()
    page.get_by_label("Reason").fill("Satire, not a fake.")
    page.get_by_role("button", name="Withdraw the incident").click()
    expect(page.locator("#withdrawn")).to_contain_text("Withdrawn by the source")
    expect(page.locator("#withdrawn")).to_contain_text("Satire, not a fake.")
    expect(page.get_by_role("link", name="Correct")).to_have_count(0)
    shot(page, "incident-withdrawn")
    page.goto(f"{base}/incidents")
    expect(page.locator("table.incidents")).to_have_count(0)
    expected = ("400 ", "Failed to load resource: the server responded with a status of 400")  # the two refusals
    assert [p for p in page.problems if not p.startswith(expected)] == [], page.problems


def test_an_analyst_records_a_sighting_and_an_opinion_in_a_real_browser(served_node, page, make_home):  # noqa: F811
    from web_fixtures import import_from
    home, base = served_node
    uz = Node(make_home("uz", "UZ"))
    theirs = uz.add_incident(incident_record(tlp="green"))
    import_from(Node(home), uz)
    log_in(page, base)
    page.goto(f"{base}/incidents/{theirs.incident_id}")
    page.get_by_role("link", name="Seen here too").click()
    expect(page.get_by_label("Country")).to_have_value("KZ")
    page.get_by_label("First seen").fill("2026-11-29 07:45")
    page.get_by_label("How often").fill("25")
    page.get_by_label("Platform").fill("telegram")
    page.get_by_label("Note").fill("Reposted by Kazakh channels")
    page.get_by_role("button", name="Sign and record the sighting").click()
    expect(page.locator("#sightings .timeline-row")).to_have_count(1)
    expect(page.locator("#sightings")).to_contain_text("KZ (25)")
    expect(page.locator("#sightings")).to_contain_text("Reposted by Kazakh channels")

    page.get_by_label("Your node's opinion of the verdict").select_option("disagree")
    page.get_by_label("Explanation").fill("The footage is authentic, from 2019.")
    page.get_by_role("button", name="Sign and share the opinion").click()
    expect(page.locator("#opinions")).to_contain_text("The footage is authentic, from 2019.")
    shot(page, "incident-sighting-opinion")
    page.goto(f"{base}/incidents?opinion=disputed")
    expect(page.locator("table.incidents tbody tr")).to_have_count(1)
    assert page.problems == [], page.problems
