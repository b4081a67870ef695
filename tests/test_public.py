"""The public pages, feed and markup (issue 11, point 5), against `qalqan serve`:
only TLP:CLEAR debunks, never a withdrawn one, 404 while public.enabled is false,
an Atom feed feedparser reads, ClaimReview JSON-LD with what Google's fact-check
markup requires, and answers a cache can keep."""
from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime
from html import unescape

import feedparser
import pytest
import requests

from node.web.index import PAGE_SIZE
from nodes import edit_config, running_node
from conftest import incident_record
from catalogues import say
from public_fixtures import json_ld_of, public_home

PUBLIC = ("clear", "kk", "partner")
NEVER_PUBLIC = ("green", "amber", "red", "strict", "unverified", "withdrawn")
TITLES = {"clear": "Zebrafish border hoax", "kk": "Kazakh pension rumour", "partner": "Uzbek cotton fake",
          "green": "Greenish quokka story", "amber": "Amberwing vaccine lie", "red": "Redstart election fake",
          "strict": "Strictly secret hoax", "unverified": "Unverified walrus claim",
          "withdrawn": "Withdrawn narwhal claim"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home, ids = public_home(tmp_path_factory.mktemp("public"))
    with running_node(home) as base:
        yield home, base, ids


def get(url: str, **kwargs) -> requests.Response:
    return requests.get(url, timeout=10, **kwargs)


def test_the_index_lists_clear_debunks_only_and_never_a_withdrawn_one(served):
    _, base, ids = served
    page = get(base + "/public/")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for name in PUBLIC:
        assert ids[name] in page.text and TITLES[name] in page.text
    for name in NEVER_PUBLIC:
        assert ids[name] not in page.text and TITLES[name] not in page.text
    assert "3 debunks" in page.text


def test_search_finds_public_debunks_and_nothing_else(served):
    _, base, ids = served
    found = get(base + "/public/", params={"q": "zebrafish"})
    assert ids["clear"] in found.text and ids["kk"] not in found.text and "1 debunk " in found.text
    for name in NEVER_PUBLIC:  # each title has a word of its own: a search for it finds nothing
        word = TITLES[name].split()[0].lower()
        result = get(base + "/public/", params={"q": word})
        assert result.status_code == 200 and ids[name] not in result.text and "0 debunks" in result.text, name
    assert ids["partner"] in get(base + "/public/", params={"q": "cotton"}).text


def test_the_index_pages_and_filters_by_language(served):
    _, base, ids = served
    kk = get(base + "/public/", params={"lang": "kk"})
    assert ids["kk"] in kk.text and ids["clear"] not in kk.text
    bad = get(base + "/public/", params={"lang": "Kazakh"})
    assert bad.status_code == 400 and "lang: expected a two-letter ISO 639-1" in bad.text


def test_a_debunk_page_shows_claim_verdict_evidence_and_signature(served):
    _, base, ids = served
    page = get(f"{base}/public/incidents/{ids['clear']}")
    assert page.status_code == 200
    text = page.text
    assert "The border closes &lt;/script&gt;&lt;!-- tomorrow." in text  # the claim, escaped
    assert "Fabricated" in text and "https://factcheck.example.kz/border" in text
    assert "https://t.me/zebrafish-border-hoax/1" in text  # where it spread
    assert "Signature verified: signed by kz (KZ)" in text
    partner = get(f"{base}/public/incidents/{ids['partner']}").text
    assert "Signature verified: signed by uz (UZ)" in partner and "Cotton exports are banned." in partner


@pytest.mark.parametrize("name", NEVER_PUBLIC)
def test_a_page_that_is_not_public_answers_404(served, name):
    _, base, ids = served
    page = get(f"{base}/public/incidents/{ids[name]}")
    assert page.status_code == 404 and TITLES[name] not in page.text
    assert get(f"{base}/public/incidents/incident--not-an-id").status_code == 404


def test_claimreview_json_ld_has_what_googles_fact_check_markup_requires(served):
    home, base, ids = served
    page = get(f"{base}/public/incidents/{ids['clear']}")
    assert "</script><!--" not in page.text.split('type="application/ld+json">', 1)[1].split("</script>", 1)[0]
    review = json_ld_of(page.text)
    # Required: claimReviewed, reviewRating (alternateName), url, author (name).
    assert review["@context"] == "https://schema.org" and review["@type"] == "ClaimReview"
    assert review["claimReviewed"] == "The border closes </script><!-- tomorrow."
    assert review["reviewRating"]["@type"] == "Rating" and review["reviewRating"]["alternateName"] == "Fabricated"
    rating = review["reviewRating"]
    assert rating["worstRating"] <= rating["ratingValue"] <= rating["bestRating"]
    assert review["url"] == f"http://127.0.0.1:8001/public/incidents/{ids['clear']}"  # node.url, canonical
    assert review["author"] == {"@type": "Organization", "name": "kz", "url": "http://127.0.0.1:8001"}
    # Recommended: datePublished, itemReviewed as a Claim with where it appeared.
    assert len(review["datePublished"]) == 10 and review["datePublished"][4] == "-"
    item = review["itemReviewed"]
    assert item["@type"] == "Claim" and item["datePublished"] == "2026-11-20"
    spread = {"https://t.me/zebrafish-border-hoax/1", "https://vk.com/zebrafish-border-hoax"}
    assert {a["url"] for a in item["appearance"]} == spread and item["firstAppearance"]["url"] in spread
    partner = json_ld_of(get(f"{base}/public/incidents/{ids['partner']}").text)
    assert partner["author"] == {"@type": "Organization", "name": "uz"}
    assert partner["reviewRating"]["alternateName"] == "False"


def test_the_json_ld_block_runs_under_the_no_inline_script_policy(served):
    _, base, ids = served
    page = get(f"{base}/public/incidents/{ids['clear']}")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert page.headers["X-Frame-Options"] == "DENY"


def test_the_atom_feed_reads_in_feedparser(served):
    _, base, ids = served
    answer = get(base + "/public/feed.atom")
    assert answer.headers["Content-Type"].startswith("application/atom+xml")
    feed = feedparser.parse(answer.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10" and feed.feed.title == "Debunks by kz"
    links = {e.link for e in feed.entries}
    assert links == {f"http://127.0.0.1:8001/public/incidents/{ids[n]}" for n in PUBLIC}
    entry = next(e for e in feed.entries if ids["clear"] in e.link)
    assert entry.title == "Fabricated: Zebrafish border hoax"
    assert "Claim: The border closes </script><!-- tomorrow." in entry.summary
    assert entry.author == "kz" and entry.updated_parsed and entry.published_parsed
    assert {t.term for t in entry.tags} == {"fabricated", "lang:ru"}
    assert next(e for e in feed.entries if ids["partner"] in e.link).author == "uz"
    for name in NEVER_PUBLIC:
        assert ids[name] not in answer.text and TITLES[name] not in answer.text


def test_the_atom_feed_per_language(served):
    _, base, ids = served
    feed = feedparser.parse(get(base + "/public/feed.atom", params={"lang": "kk"}).content)
    # ?lang=kk also makes the feed's own words Kazakh (node/i18n.py)
    assert not feed.bozo and feed.feed.language == "kk" and feed.feed.title == say(
        "kk", "Debunks by %(organisation)s (language: %(language)s)", organisation="kz", language="kk")
    assert [e.link.rsplit("/", 1)[1] for e in feed.entries] == [ids["kk"]]
    assert feedparser.parse(get(base + "/public/feed.atom", params={"lang": "tr"}).content).entries == []
    assert get(base + "/public/feed.atom", params={"lang": "k"}).status_code == 400


@pytest.mark.parametrize("path", ["/public/", "/public/feed.atom", "/public/incidents/{clear}"])
def test_public_answers_are_cacheable(served, path):
    _, base, ids = served
    url = base + path.format(**ids)
    first = get(url)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "public, max-age=300"
    etag = first.headers["ETag"]
    again = get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
    if "incidents" in path:
        assert parsedate_to_datetime(first.headers["Last-Modified"]).year >= 2026


def test_the_analyst_pages_still_need_a_log_in(served):
    _, base, ids = served
    answer = get(f"{base}/incidents/{ids['clear']}", allow_redirects=False)
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_public_is_off_by_default_and_follows_the_config(kz):
    from public_fixtures import debunk
    incident = debunk(kz, "Clear but unpublished", "clear")
    with running_node(kz.config.home) as base:
        for path in ("/public/", "/public/feed.atom", f"/public/incidents/{incident}"):
            assert get(base + path).status_code == 404, path
        edit_config(kz.config.home, "public.enabled", True)
        deadline = time.monotonic() + 10
        while get(base + "/public/").status_code == 404 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert get(f"{base}/public/incidents/{incident}").status_code == 200


def test_the_index_pages_through_every_debunk_once(kz):
    edit_config(kz.config.home, "public.enabled", True)
    made = {kz.add_incident(incident_record(title=f"Paged hoax {i}", tlp="clear", urls=[], accounts=[],
                                            media_sha256=[], disarm=[], threat_actor=None)).incident_id
            for i in range(PAGE_SIZE + 5)}
    with running_node(kz.config.home) as base:
        first = get(base + "/public/")
        older = re.search(r'<a href="([^"]+)" rel="next">Older debunks</a>', first.text)
        assert older, "the first page offers no older page"
        second = get(base + unescape(older.group(1)))
        pages = [re.findall(r'href="/public/incidents/(incident--[0-9a-f-]+)"', p.text) for p in (first, second)]
        assert [len(p) for p in pages] == [PAGE_SIZE, 5] and set(pages[0]) | set(pages[1]) == made
        assert 'rel="next"' not in second.text and f"{PAGE_SIZE + 5} debunks" in second.text
