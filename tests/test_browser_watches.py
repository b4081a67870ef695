"""Watches and the notification badge in a real browser (Chromium via Playwright, against
`qalqan serve` on loopback; issue 12, point 5): an analyst saves the incident list's
filter as a watch, an incident that matches arrives, the header's badge counts it, the
notifications page lists it, and marking it seen clears the badge. An admin's form has
the webhook field, and shows the new webhook's secret once."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from node.home import Node
from test_browser_ui import browser, log_in, page, served_node, shot  # noqa: F401  (fixtures)
from web_fixtures import ADMIN, incident_record


def test_an_analyst_saves_a_filter_as_a_watch_and_the_badge_counts_what_it_finds(served_node, page):  # noqa: F811
    home, base = served_node
    Node(home).add_incident(incident_record(title="Already here"))  # before the watch: never notified
    log_in(page, base)
    expect(page.locator(".count-badge")).to_have_count(0)
    page.get_by_label("Target country").select_option("UZ")
    page.get_by_label("Verdict").select_option("fabricated")
    page.get_by_label("Text").fill("border")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name="Save this filter as a watch").click()

    expect(page).to_have_url(re.compile(r"/watches\?"))
    form = page.locator("form.watch-form")
    expect(form.get_by_label("Target country")).to_have_value("UZ")
    expect(form.get_by_label("Verdict")).to_have_value("fabricated")
    expect(form.get_by_label("Text")).to_have_value("border")
    expect(form.get_by_label("Webhook URLs")).to_have_count(0)  # an admin's field
    form.get_by_label("Name").fill("uz border")
    form.get_by_role("button", name="Save the watch").click()
    expect(form.locator("#row-name .field-error")).to_contain_text("is not a watch name")
    form.get_by_label("Name").fill("uz-border")
    form.get_by_label("E-mail addresses").fill("ana@uz.example")
    form.get_by_role("button", name="Save the watch").click()
    expect(page.locator(".flash")).to_contain_text("Watch uz-border saved.")
    row = page.locator("#watch-uz-border")
    expect(row).to_contain_text("target country: UZ")
    expect(row).to_contain_text("email ana@uz.example")
    shot(page, "watches")

    node = Node(home)
    found = node.add_incident(incident_record(title="Border closes tonight")).incident_id
    node.add_incident(incident_record(title="Border news for Turkey", target_countries=["TR"]))
    page.reload()
    badge = page.locator("header .count-badge")
    expect(badge).to_have_text("1")
    page.locator("header").get_by_role("link", name=re.compile("^Notifications")).click()
    item = page.locator("tr.notification.unseen")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("new incident")
    expect(item).to_contain_text("Border closes tonight")
    expect(item).to_contain_text("uz-border")
    shot(page, "notifications")
    item.get_by_role("button", name="Mark seen").click()
    expect(page.locator("tr.notification.unseen")).to_have_count(0)
    expect(page.locator("header .count-badge")).to_have_count(0)
    page.get_by_role("link", name="Border closes tonight").click()
    expect(page).to_have_url(f"{base}/incidents/{found}")

    page.goto(base + "/watches")
    page.locator("#watch-uz-border").get_by_role("button", name="Mute").click()
    expect(page.locator("#watch-uz-border")).to_contain_text("muted")
    node.add_incident(incident_record(title="Border, while muted"))
    page.reload()
    expect(page.locator("header .count-badge")).to_have_count(0)
    page.locator("#watch-uz-border").get_by_role("button", name="Remove").click()
    expect(page.locator("#watch-uz-border")).to_have_count(0)
    refused = (f"400 {base}/watches", "Failed to load resource: the server responded with a status of 400")
    assert [p for p in page.problems if not p.startswith(refused)] == [], page.problems  # the name's refusal only


def test_an_admin_adds_a_webhook_and_sees_its_secret_once(served_node, page):  # noqa: F811
    home, base = served_node
    log_in(page, base, ADMIN)
    page.goto(base + "/watches")
    form = page.locator("form.watch-form")
    form.get_by_label("Name").fill("soc-hook")
    form.get_by_label("Platform").fill("telegram")
    form.get_by_label("Webhook URLs").fill("http://127.0.0.1:9/hook?key=abc")
    form.get_by_role("button", name="Save the watch").click()
    secret = page.locator("#webhook-secrets .secret-value")
    expect(secret).to_have_text(re.compile(r"^qwh_[0-9a-f]{64}$"))
    expect(page.locator("#webhook-secrets")).to_contain_text("http://127.0.0.1:9/hook?…")
    expect(page.locator("#watch-soc-hook")).to_contain_text("webhook http://127.0.0.1:9/hook?…")
    shot(page, "watch-secret")
    page.goto(base + "/watches")
    expect(page.locator("#webhook-secrets")).to_have_count(0)
    assert "key=abc" not in page.content()
    assert page.problems == []
