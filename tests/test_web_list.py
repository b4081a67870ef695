"""The incident list: newest first, paged, every filter, text search."""
import re
from html import unescape

import pytest

from node.web.index import PAGE_SIZE, fts_query
from web_fixtures import import_from, incident_record


def titles(html: str) -> list[str]:
    return [unescape(t) for t in re.findall(r'<a class="title" href="[^"]+">([^<]*)</a>', html)]


@pytest.fixture
def three(node):
    node.add_incident(incident_record(title="Alpha: fake border closure", platforms=["telegram"],
                                      target_countries=["KZ"], disarm=["T0023"], verdict="false", tlp="green",
                                      first_seen="2026-10-01", urls=["https://t.me/alpha/1"]))
    node.add_incident(incident_record(title="Beta: edited flood video", platforms=["tiktok"],
                                      target_countries=["UZ"], disarm=["T0086.002"], verdict="manipulated",
                                      tlp="amber", first_seen="2026-11-01", urls=["https://www.tiktok.com/@b/1"],
                                      accounts=[{"platform": "tiktok", "login": "@beta_clips"}]))
    node.add_incident(incident_record(title="Gamma: satire taken as news", platforms=["x", "telegram"],
                                      target_countries=["KZ", "KG"], disarm=[], verdict="satire", tlp="clear",
                                      first_seen="2026-11-20", urls=["https://x.com/g/status/1"],
                                      claim="Parliament bans horses"))


def test_the_list_shows_the_newest_arrival_first(analyst, three):
    assert titles(analyst.get("/incidents").text) == ["Gamma: satire taken as news", "Beta: edited flood video",
                                                      "Alpha: fake border closure"]


def test_an_empty_node_says_no_incident_matches(analyst):
    html = analyst.get("/incidents").text
    assert "No incident matches." in html and "0 incidents" in html


@pytest.mark.parametrize("query, expected", [
    ({"platform": "telegram"}, ["Gamma: satire taken as news", "Alpha: fake border closure"]),
    ({"country": "UZ"}, ["Beta: edited flood video"]),
    ({"technique": "T0086.002"}, ["Beta: edited flood video"]),
    ({"tlp": "clear"}, ["Gamma: satire taken as news"]),
    ({"verdict": "false"}, ["Alpha: fake border closure"]),
    ({"from": "2026-10-15"}, ["Gamma: satire taken as news", "Beta: edited flood video"]),
    ({"to": "2026-11-01"}, ["Beta: edited flood video", "Alpha: fake border closure"]),
    ({"from": "2026-11-01", "to": "2026-11-01"}, ["Beta: edited flood video"]),
    ({"platform": "telegram", "country": "KG"}, ["Gamma: satire taken as news"]),
    ({"platform": "tiktok", "verdict": "false"}, []),
])
def test_each_filter_narrows_the_list(analyst, three, query, expected):
    assert titles(analyst.get("/incidents", query_string=query).text) == expected


@pytest.mark.parametrize("text, expected", [
    ("flood", ["Beta: edited flood video"]),
    ("FLOOD Video", ["Beta: edited flood video"]),
    ("satir", ["Gamma: satire taken as news"]),
    ("horses", ["Gamma: satire taken as news"]),
    ("t.me/alpha", ["Alpha: fake border closure"]),
    ("@beta_clips", ["Beta: edited flood video"]),
    ("closure border", ["Alpha: fake border closure"]),
    ("nothing-like-this", []),
])
def test_text_search_finds_words_in_title_claim_urls_and_accounts(analyst, three, text, expected):
    assert titles(analyst.get("/incidents", query_string={"q": text}).text) == expected


@pytest.fixture
def regional(node):
    """Incidents in the region's languages, with nothing else in common."""
    plain = {"summary": "-", "urls": [], "accounts": [], "media_sha256": [], "threat_actor": None}
    node.add_incident(incident_record(title="Qazaqstan men Qytai şekarasy jabylady degen habar jalğan",
                                      claim="Şekaralarda eşqandai özgerıs joq.", language="kk", **plain))
    node.add_incident(incident_record(title="Граница с Китаем закрыта", claim="Граница открыта.", language="ru",
                                      **plain))
    node.add_incident(incident_record(title="Oʻzbekistonda suv narxi oshadi", claim="Suv narxi oʻzgarmaydi.",
                                      language="uz", **plain))
    node.add_incident(incident_record(title="Azərbaycanda seçkilər təxirə salınır", claim="Seçkilər vaxtında.",
                                      language="az", **plain))


KK_LATIN = "Qazaqstan men Qytai şekarasy jabylady degen habar jalğan"


@pytest.mark.parametrize("text, expected", [
    ("шекара", [KK_LATIN]),  # Cyrillic Kazakh finds Latin Kazakh
    ("Қазақстан шекарасында", [KK_LATIN]),  # and another form of the words
    ("қытай шекаралары", [KK_LATIN]),
    ("границы", ["Граница с Китаем закрыта"]),  # an inflected Russian word finds its base form
    ("границами китая", ["Граница с Китаем закрыта"]),
    ("сув нархлари", ["Oʻzbekistonda suv narxi oshadi"]),  # Uzbek: Cyrillic finds Latin
    ("сечкиләр", ["Azərbaycanda seçkilər təxirə salınır"]),  # Azerbaijani: Cyrillic finds Latin
    ("шекер", []),  # sugar is not border
    ("шекара вакцина", []),  # every word must match
])
def test_text_search_matches_word_forms_and_both_scripts(analyst, regional, text, expected):
    assert titles(analyst.get("/incidents", query_string={"q": text}).text) == expected


DELTA = "Delta: and or not near a b title x"
EVERY = [DELTA, "Gamma: satire taken as news", "Beta: edited flood video", "Alpha: fake border closure"]


@pytest.mark.parametrize("text, expected", [
    ('"', EVERY),                        # no word at all: no text filter
    ("(", EVERY),
    ("^", EVERY),
    ("AND OR NOT", [DELTA]),             # the words, not FTS operators
    ("title:x", [DELTA]),                # not a column filter: the words "title x"
    ("NEAR(a b)", [DELTA]),              # not NEAR(): the words "near a" then "b"
    ("-x", [DELTA, "Gamma: satire taken as news"]),  # not a negation: the word "x" (Gamma's x.com)
    ("a*", EVERY),                       # a prefix, as every word is
])
def test_search_text_with_fts_syntax_is_taken_as_plain_words(analyst, node, three, text, expected):
    node.add_incident(incident_record(title=DELTA, claim="Nothing else.", summary="Plain words only.",
                                      urls=[], accounts=[], platforms=["telegram"], threat_actor=None))
    response = analyst.get("/incidents", query_string={"q": text})
    assert response.status_code == 200 and titles(response.text) == expected


def test_a_nul_in_the_search_text_separates_words_instead_of_failing(analyst, three):
    """Found by tests/test_fuzz_web.py: FTS5 ends a quoted string at NUL, so `q=0\x00`
    answered 500 ("unterminated string")."""
    for text in ("0\x00", "\x00", "horses\x00", "hor\x00ses", "\x00horses"):
        response = analyst.get("/incidents", query_string={"q": text})
        assert response.status_code == 200, repr(text)
    assert titles(analyst.get("/incidents", query_string={"q": "horses\x00"}).text) == ["Gamma: satire taken as news"]


def test_fts_query_quotes_every_word():
    # a word of letters through its search keys, anything else as typed
    typed = "{title summary claim threat_actor observables case_id}"
    assert fts_query('border "closes') == '(keys : (("border"*))) AND (keys : (("closes"*)))'
    assert fts_query('"t.me/x KZ-1') == f'({typed} : """t.me/x"*) AND ({typed} : "KZ-1"*)'
    assert fts_query("  -- ") is None


def test_the_source_node_filter_tells_own_from_received_incidents(analyst, node, uz, three):
    uz.add_incident(incident_record(title="Uzbek node incident"))
    import_from(node, uz)
    assert titles(analyst.get("/incidents", query_string={"node": uz.config.identity}).text) == [
        "Uzbek node incident"]
    assert len(titles(analyst.get("/incidents", query_string={"node": node.config.identity}).text)) == 3
    html = analyst.get("/incidents").text
    assert "uz (UZ)" in html and "kz (KZ)" in html


def test_filter_choices_come_from_the_incidents_held(analyst, three):
    html = analyst.get("/incidents").text
    for value in ("telegram", "tiktok", "KG", "T0086.002"):
        assert f'<option value="{value}"' in html


def test_a_bad_date_is_reported_not_a_crash(analyst, three):
    response = analyst.get("/incidents", query_string={"from": "yesterday"})
    assert response.status_code == 200
    assert "is not a date" in unescape(response.text)


def test_the_list_is_paged_with_a_link_to_older_incidents(analyst, node):
    for i in range(PAGE_SIZE + 3):
        node.add_incident(incident_record(title=f"Incident {i:03d}", disarm=[], urls=[], accounts=[],
                                          media_sha256=[], target_countries=[], threat_actor=None))
    first = analyst.get("/incidents").text
    assert titles(first)[0] == f"Incident {PAGE_SIZE + 2:03d}" and len(titles(first)) == PAGE_SIZE
    assert f"{PAGE_SIZE + 3} incidents" in first
    older = unescape(re.search(r'<a href="([^"]+)" rel="next">', first).group(1))
    second = analyst.get(older).text
    assert titles(second) == ["Incident 002", "Incident 001", "Incident 000"]
    assert 'rel="next"' not in second and "« Newest" in second


def test_paging_keeps_the_filters(analyst, node):
    for i in range(PAGE_SIZE + 1):
        node.add_incident(incident_record(title=f"Telegram {i}", platforms=["telegram"], disarm=[], urls=[],
                                          accounts=[], media_sha256=[], target_countries=[], threat_actor=None))
    node.add_incident(incident_record(title="Other", platforms=["vk"]))
    first = analyst.get("/incidents", query_string={"platform": "telegram"}).text
    older = unescape(re.search(r'<a href="([^"]+)" rel="next">', first).group(1))
    assert "platform=telegram" in older
    assert titles(analyst.get(older).text) == ["Telegram 0"]


def csv_rows(analyst, query: str) -> list[dict]:
    import csv
    import io
    response = analyst.get("/incidents.csv" + query)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_the_filtered_list_exports_as_csv_every_page_of_it(analyst, node, three, monkeypatch):
    from node.web import csvexport
    monkeypatch.setattr(csvexport, "BATCH", 2)  # so three telegram incidents take two batches
    node.add_incident(incident_record(title="Delta", platforms=["telegram"], verdict="false"))
    listing = analyst.get("/incidents?platform=telegram").get_data(as_text=True)
    assert 'href="/incidents.csv?platform=telegram"' in unescape(listing)
    rows = csv_rows(analyst, "?platform=telegram")
    assert [r["title"] for r in rows] == titles(listing) == ["Delta", "Gamma: satire taken as news",
                                                                "Alpha: fake border closure"]
    gamma = rows[1]
    assert (gamma["verdict"], gamma["tlp"], gamma["platforms"], gamma["target_countries"]) == (
        "satire", "clear", "telegram x", "KG KZ")
    assert gamma["first_seen"].startswith("2026-11-20T") and gamma["incident_id"].startswith("incident--")
    assert re.fullmatch(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", gamma["received"])
    assert [r["title"] for r in csv_rows(analyst, "?verdict=manipulated")] == ["Beta: edited flood video"]


def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_exported_as_text(analyst, node):
    node.add_incident(incident_record(title='=HYPERLINK("https://evil.example","open")'))
    node.add_incident(incident_record(title="@SUM(1+1)"))
    assert [r["title"] for r in csv_rows(analyst, "")] == ["'@SUM(1+1)", "'=HYPERLINK(\"https://evil.example\",\"open\")"]


def test_a_bad_filter_in_the_csv_export_is_a_400_and_it_needs_a_log_in(analyst, client, three):
    assert analyst.get("/incidents.csv?from=yesterday").status_code == 400
    assert client.get("/incidents.csv").headers["Location"].startswith("/login")
