"""End to end in a real browser: Debian's Chromium, driven by Playwright, against a node
served by `qalqan serve` on a loopback port. Screenshots go to tests/artifacts/."""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from node.home import Node
from node.users import add_user
from node.wellknown import DISINFO_EXT
from web_fixtures import ADMIN, ANALYST, incident_record

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TITLE = "Border closure hoax <script>alert(1)</script>"
SHARED_URL = "https://t.me/border_news/4242"

@pytest.fixture
def served_node(make_home):
    """A node with an analyst account, served by `qalqan serve` on a free loopback port."""
    home = make_home("kz", "KZ")
    add_user(Node(home).store, ANALYST[0], "analyst", ANALYST[1])
    add_user(Node(home).store, ADMIN[0], "admin", ADMIN[1])
    process = subprocess.Popen([sys.executable, "-m", "node", "serve", "--home", str(home), "--port", "0",
                                "--no-sync"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)/taxii2/", line)
        assert match, f"qalqan serve did not start: {line!r} {process.stderr.read() if process.poll() else ''}"
        yield home, match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.dialogs = []
    page.problems = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("response", lambda r: page.problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    yield page
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page, base: str, account: tuple[str, str] = ANALYST) -> None:
    page.goto(base + "/incidents")
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("User name").fill(account[0])
    page.get_by_label("Password").fill(account[1])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(base + "/incidents")


def fill_incident_form(page) -> None:
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Summary").fill("A forged decree says the border closes tonight.\nShared in 40 channels.")
    page.get_by_label("Claim").fill("The border closes tonight.")
    page.get_by_label("Language").fill("ru")
    page.get_by_label("First seen").fill("2026-11-20T08:00:00Z")
    page.get_by_label("Platforms").fill("telegram, tiktok")
    page.get_by_label("Target countries").fill("KZ, UZ")
    page.get_by_label("Find a DISARM technique").fill("distort facts")
    page.get_by_label("DISARM", exact=True).select_option(["T0023"])
    page.get_by_label("URLs").fill(SHARED_URL)
    page.get_by_label("Accounts").fill("telegram @border_news")
    page.get_by_label("Verdict").select_option("fabricated")
    page.get_by_label("Confidence").fill("80")
    page.get_by_label("TLP").select_option("green")


def test_an_analyst_records_finds_and_traces_an_incident_in_a_real_browser(served_node, page, make_home):
    home, base = served_node
    log_in(page, base)

    page.goto(base + "/incidents/new")
    fill_incident_form(page)
    expect(page.locator("#disarm-picked")).to_contain_text("T0023 Distort Facts")
    expect(page.locator('.reach-row[data-tlp="green"]')).to_have_class(re.compile("current"))
    shot(page, "form")
    page.get_by_role("button", name="Sign and record").click()

    expect(page).to_have_url(re.compile(r"/incidents/incident--"))
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page.locator(".signed.ok")).to_contain_text("Signed by kz (this node) · verified")
    incident_url = page.url

    page.goto(base + "/incidents")
    page.get_by_label("Text").fill("border closure")
    page.get_by_role("button", name="Filter").click()
    link = page.get_by_role("link", name=TITLE)
    expect(link).to_have_count(1)
    shot(page, "list")
    link.click()
    expect(page).to_have_url(incident_url)

    # A second node records an incident on the same URL; its export is imported here.
    uz = Node(make_home("uz", "UZ", port=8002))
    uz.add_incident(incident_record(title="Same hoax seen in Uzbekistan", urls=[SHARED_URL]))
    kz = Node(home)
    kz.trust_card(uz.card())
    out = io.StringIO()
    uz.export(out)
    kz.import_stream(io.BytesIO(out.getvalue().encode("utf-8")), source=None)

    page.reload()
    related = page.locator("section.related")
    expect(related.get_by_role("link", name="Same hoax seen in Uzbekistan")).to_be_visible()
    expect(related).to_contain_text("uz (UZ)")
    expect(related).to_contain_text(SHARED_URL)
    shot(page, "incident")

    page.goto(base + "/dashboard")
    expect(page.locator("#charts")).to_have_attribute("data-ready", "true")
    shot(page, "dashboard")

    assert page.dialogs == [], "a script in user text ran"
    assert page.problems == [], "the browser reported errors (CSP violations show here)"


def test_a_bad_field_is_shown_next_to_it_in_the_browser_with_the_input_kept(served_node, page):
    home, base = served_node
    log_in(page, base)
    page.goto(base + "/incidents/new")
    fill_incident_form(page)
    page.get_by_label("URLs").fill("ftp://not-http.example/x")
    page.get_by_role("button", name="Sign and record").click()
    expect(page.locator("#row-urls .field-error")).to_contain_text("is not an http(s) URL")
    expect(page.get_by_label("Title")).to_have_value(TITLE)
    expect(page.get_by_label("DISARM", exact=True)).to_have_values(["T0023"])
    shot(page, "form-error")
    assert page.dialogs == []
    assert [p for p in page.problems if "400" not in p] == []  # the form comes back as 400 Bad Request


def test_an_admin_deletes_a_quarantined_object_in_the_browser(served_node, page, make_home):
    home, base = served_node
    stranger = Node(make_home("tm", "TM", port=8004))
    stranger.add_incident(incident_record(title="From a node nobody pinned"))
    out = io.StringIO()
    stranger.export(out)
    Node(home).import_stream(io.BytesIO(out.getvalue().encode("utf-8")))
    held = Node(home).store.one("SELECT COUNT(*) AS n FROM quarantine")["n"]

    log_in(page, base, ADMIN)
    page.get_by_role("link", name="Quarantine").click()
    expect(page.get_by_text(f"{held} held")).to_be_visible()
    expect(page.locator("table.quarantine")).to_contain_text("unknown signer key")
    shot(page, "quarantine")
    page.get_by_role("button", name="Delete").first.click()
    expect(page.locator(".flash")).to_contain_text("Deleted")
    expect(page.get_by_text(f"{held - 1} held")).to_be_visible()
    assert page.dialogs == [] and page.problems == []


def click_option(page, value: str) -> None:
    """A plain mouse click on an option of the DISARM list, as an analyst clicks it."""
    option = page.locator(f'select#disarm option[value="{value}"]')
    option.scroll_into_view_if_needed()
    box = option.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def test_plain_clicks_pick_several_techniques_shown_as_removable_chips(served_node, page):
    home, base = served_node
    log_in(page, base)
    page.goto(base + "/incidents/new")
    fill_incident_form(page)  # picks T0023 through the list
    page.get_by_label("Find a DISARM technique").fill("")
    page.get_by_label("Find a DISARM technique").dispatch_event("input")
    click_option(page, "T0086.002")
    click_option(page, "T0017")
    chosen = lambda: page.eval_on_selector("select#disarm", "s => Array.from(s.selectedOptions).map(o => o.value)")
    assert sorted(chosen()) == ["T0017", "T0023", "T0086.002"]
    chips = page.locator("#disarm-picked .chip")
    expect(chips).to_have_count(3)
    click_option(page, "T0017")  # a second plain click takes it out again
    expect(chips).to_have_count(2)
    page.get_by_role("button", name=re.compile("Remove T0023")).click()
    expect(chips).to_have_count(1)
    assert chosen() == ["T0086.002"]
    shot(page, "disarm-chips")
    page.get_by_role("button", name="Sign and record").click()
    expect(page).to_have_url(re.compile(r"/incidents/incident--"))
    incident_id = page.url.rsplit("/", 1)[1]
    stored = json.loads(Node(home).store.object_json(incident_id))
    assert stored["extensions"][DISINFO_EXT]["disarm_techniques"] == ["T0086.002"]


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    yield context.new_page()
    context.close()


def test_the_list_the_form_and_the_incident_page_fit_a_390_px_phone(served_node, phone):
    home, base = served_node
    incident = Node(home).add_incident(incident_record(
        title="A rather long title about a forged decree that spreads on several platforms at once",
        urls=["https://t.me/a_very_long_channel_name_for_testing/1234567890?single&comment=99"]))
    log_in(phone, base)
    pages = {"list": "/incidents", "form": "/incidents/new", "incident": f"/incidents/{incident.incident_id}"}
    for name, path in pages.items():
        phone.goto(base + path)
        shot(phone, f"phone-{name}")
        width = phone.evaluate("document.scrollingElement.scrollWidth")
        assert width <= 390, f"{name} is {width} px wide at a 390 px viewport"
