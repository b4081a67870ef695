"""The UI in each of its seven languages, in a real browser (issue 13, "How it is shown"):
an analyst picks the language in the header and the list, the form and the form's error
messages speak it. The expected words are read from the compiled catalogue of that
language (tests/catalogues.py), never written here; for every language but English they
must differ from the English ones, so an untranslated catalogue fails this test."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from node.i18n import LOCALES, html_lang
from catalogues import say
from test_browser_ui import browser, log_in, page, served_node, shot  # noqa: F401  (fixtures)

# What the test reads on the pages, in English (the msgids).
LIST_WORDS = ("Incidents", "Text", "Verdict", "Filter", "No incident matches.")
FORM_WORDS = ("New incident", "Title", "Summary", "Claim", "First seen", "Sign and record")
ERROR_WORDS = ("Nothing was recorded. Please correct:", "this field is required")


@pytest.mark.parametrize("locale", LOCALES)
def test_an_analyst_switches_the_ui_to_each_language(served_node, page, locale):  # noqa: F811
    _, base = served_node
    words = {w: say(locale, w) for w in LIST_WORDS + FORM_WORDS + ERROR_WORDS}
    if locale != "en":
        same = [w for w, translated in words.items() if translated == w]
        assert not same, f"{locale}: the catalogue leaves these in English: {same}"
    log_in(page, base)
    page.locator("#ui-language").select_option(locale)
    page.locator("form.language-picker button[type=submit]").click()
    expect(page).to_have_url(base + "/incidents")
    expect(page.locator("html")).to_have_attribute("lang", html_lang(locale))

    # the list: heading, filter labels and button, the empty-list sentence
    expect(page.get_by_role("heading", level=1)).to_have_text(words["Incidents"])
    page.get_by_label(words["Text"], exact=True).fill("no such words anywhere")
    expect(page.get_by_label(words["Verdict"], exact=True)).to_be_visible()
    page.get_by_role("button", name=words["Filter"], exact=True).click()
    expect(page.locator("p.empty")).to_have_text(words["No incident matches."])
    shot(page, f"list-{locale}")

    # the form: heading and labels, then an empty submit and its error messages
    page.goto(base + "/incidents/new")
    expect(page.get_by_role("heading", level=1)).to_have_text(words["New incident"])
    for label in ("Title", "Summary", "Claim", "First seen"):
        expect(page.get_by_label(words[label], exact=True)).to_be_visible()
    page.get_by_role("button", name=words["Sign and record"], exact=True).click()
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text(words["Nothing was recorded. Please correct:"])
    expect(summary.get_by_role("link", name=words["Title"], exact=True)).to_be_visible()
    expect(page.locator("#row-title .field-error")).to_have_text(words["this field is required"])
    expect(page.locator("html")).to_have_attribute("lang", html_lang(locale))
    shot(page, f"form-errors-{locale}")
    assert [p for p in page.problems if "400" not in p] == []  # the refused POST (400), and nothing else
