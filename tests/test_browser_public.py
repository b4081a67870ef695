"""The public pages in a real browser (Debian's Chromium via Playwright) against
`qalqan serve`: no log-in, search, a debunk page whose ClaimReview JSON-LD the browser
reads as data under the node's no-inline-script CSP. Screenshots go to tests/artifacts/."""
from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from nodes import running_node
from public_fixtures import public_home
from test_browser_ui import browser, page, shot  # noqa: F401  (fixtures)

CSP_WATCH = ("window.__csp = [];"
             "document.addEventListener('securitypolicyviolation',"
             " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")


def test_a_citizen_finds_a_debunk_and_its_claimreview_in_a_real_browser(tmp_path, page):  # noqa: F811
    home, ids = public_home(tmp_path)
    page.add_init_script(CSP_WATCH)
    with running_node(home) as base:
        page.goto(base + "/public/")
        expect(page).to_have_url(base + "/public/")  # no log-in
        expect(page.get_by_role("heading", level=1)).to_have_text("Debunked disinformation")
        expect(page.locator("li.debunk")).to_have_count(3)
        expect(page.locator('link[rel="alternate"][type="application/atom+xml"]')).to_have_attribute(
            "href", "/public/feed.atom")
        for hidden in ("Greenish quokka story", "Amberwing vaccine lie", "Withdrawn narwhal claim"):
            expect(page.get_by_text(hidden)).to_have_count(0)
        shot(page, "public-index")

        page.get_by_label("Search debunks").fill("zebrafish")
        page.get_by_role("button", name="Search").click()
        expect(page).to_have_url(re.compile(r"/public/\?q=zebrafish"))
        link = page.get_by_role("link", name="Zebrafish border hoax")
        expect(link).to_have_count(1)
        expect(page.locator("li.debunk")).to_have_count(1)
        link.click()

        expect(page).to_have_url(f"{base}/public/incidents/{ids['clear']}")
        expect(page.get_by_role("heading", level=1)).to_have_text("Zebrafish border hoax")
        expect(page.locator(".signed.ok")).to_have_text("Signature verified: signed by kz (KZ)")
        expect(page.locator("dd.claim")).to_have_text("The border closes </script><!-- tomorrow.")
        expect(page.locator("a.evidence")).to_have_attribute("href", "https://factcheck.example.kz/border")
        review = json.loads(page.evaluate(
            "JSON.stringify(JSON.parse(document.querySelector('script[type=\"application/ld+json\"]').textContent))"))
        assert review["@type"] == "ClaimReview"
        assert review["claimReviewed"] == "The border closes </script><!-- tomorrow."
        assert review["reviewRating"]["alternateName"] == "Fabricated"
        shot(page, "public-debunk")

        page.goto(f"{base}/public/incidents/{ids['partner']}")
        expect(page.locator(".signed.ok")).to_have_text("Signature verified: signed by uz (UZ)")
        assert page.evaluate("window.__csp") == [], "the CSP blocked something on the public pages"
        assert page.problems == [], "the browser reported errors (CSP violations show here)"

        answer = page.goto(f"{base}/public/incidents/{ids['green']}")
        assert answer.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("404 Not Found")
        expect(page.get_by_text("Greenish quokka story")).to_have_count(0)
