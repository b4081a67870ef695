"""Which language a page speaks (issue 13, point 1; node/i18n.py): the account's choice
over Accept-Language, `?lang=` on the public pages and the log-in page, English otherwise;
`<html lang>` in BCP 47; dates and numbers in the reader's locale with ISO kept for
machines; TAXII never translated. Translated words come from a catalogue made here (the
translators' catalogues may still be empty), through the app's own Flask-Babel setup."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from node.app import create_app
from node.home import Node
from node.i18n import LOCALES
from nodes import edit_config
from web_fixtures import ADMIN, ANALYST, csrf_from, form_data, incident_record, log_in

HTML_LANG = re.compile(r'<html lang="([^"]+)">')
# A Kazakh catalogue for these tests only: its words are marked so no test can mistake them
# for English or for the real catalogue's.
TEST_KK = {"Incidents": "[kk] Инциденттер", "Title": "[kk] Тақырып", "this field is required": "[kk] міндетті",
           "Nothing was recorded. Please correct:": "[kk] Ештеңе жазылмады:", "False": "[kk] Жалған",
           "Verdict": "[kk] Қорытынды", "Debunks by %(organisation)s": "[kk] %(organisation)s теріске шығарулары",
           "Claim: %(claim)s": "[kk] Мәлімдеме: %(claim)s", "Verdict: %(verdict)s": "[kk] Қорытынды: %(verdict)s",
           "You are logged out.": "[kk] Сіз шықтыңыз.", "Not Found": "[kk] Табылмады"}


def lang_of(html: str) -> str:
    match = HTML_LANG.search(html)
    assert match, "no <html lang>"
    return match.group(1)


@pytest.fixture
def kk_catalogue(tmp_path) -> Path:
    directory = tmp_path / "translations"
    for locale in LOCALES:
        catalog = Catalog(locale=locale)
        for msgid, msgstr in (TEST_KK.items() if locale == "kk" else []):
            catalog.add(msgid, msgstr)
        path = directory / locale / "LC_MESSAGES"
        path.mkdir(parents=True)
        with open(path / "messages.mo", "wb") as f:
            write_mo(f, catalog)
    return directory


@pytest.fixture
def kk_app(web_home, kk_catalogue):
    edit_config(web_home, "public.enabled", True)
    return create_app(web_home, {"BABEL_TRANSLATION_DIRECTORIES": str(kk_catalogue)})


@pytest.mark.parametrize("header, expected", [
    ("kk-KZ,kk;q=0.9,ru;q=0.8,en;q=0.5", "kk"),
    ("uz", "uz-Latn"),
    ("uz-Latn-UZ", "uz-Latn"),
    ("de-DE,de;q=0.9,tr;q=0.4", "tr"),
    ("ky-KG", "ky"),
    ("az-Latn-AZ,az", "az"),
    ("ru-RU,ru", "ru"),
    ("fr-FR,de", "en"),
    ("", "en"),
])
def test_accept_language_picks_the_best_of_the_seven_and_english_otherwise(client, header, expected):
    assert lang_of(client.get("/login", headers={"Accept-Language": header}).text) == expected


def test_lang_on_the_log_in_page_wins_over_accept_language_and_links_offer_each_language(client):
    page = client.get("/login?lang=az&next=/incidents", headers={"Accept-Language": "ru"}).text
    assert lang_of(page) == "az"
    assert lang_of(client.get("/login?lang=uz-Latn").text) == "uz-Latn"
    assert lang_of(client.get("/login?lang=xx", headers={"Accept-Language": "tr"}).text) == "tr"
    links = re.findall(r'<a href="(/login\?[^"]+)" lang="([^"]+)"', page)
    assert {lang for _, lang in links} == {"en", "ru", "kk", "uz-Latn", "az", "tr", "ky"}
    assert all("next=/incidents" in href for href, _ in links)  # the way back after log-in is kept


def pick_language(client, code: str, page: str = "/incidents"):
    html = client.get(page).text
    return client.post("/language", data={"csrf_token": csrf_from(html), "language": code, "next": page})


def test_the_account_language_wins_over_accept_language_and_is_kept_in_the_account(app, analyst, node):
    assert lang_of(analyst.get("/incidents", headers={"Accept-Language": "ru"}).text) == "ru"
    response = pick_language(analyst, "ky", "/incidents?q=border")
    assert response.status_code == 302 and response.headers["Location"] == "/incidents?q=border"
    assert node.store.one("SELECT language FROM users WHERE name = ?", [ANALYST[0]]) == {"language": "ky"}
    page = analyst.get("/incidents", headers={"Accept-Language": "ru"}).text
    assert lang_of(page) == "ky" and '<option value="ky" lang="ky" selected>Кыргызча</option>' in page
    assert lang_of(analyst.get("/incidents?lang=tr").text) == "ky"  # ?lang= is for pages without an account
    # another browser of the same account speaks the account's language at once
    other = app.test_client()
    log_in(other, *ANALYST)
    assert lang_of(other.get("/dashboard", headers={"Accept-Language": "tr"}).text) == "ky"
    # "as the browser asks" gives the choice back to Accept-Language
    pick_language(analyst, "")
    assert lang_of(analyst.get("/incidents", headers={"Accept-Language": "tr"}).text) == "tr"
    # an admin's choice is the admin's alone
    admin = app.test_client()
    log_in(admin, *ADMIN)
    assert lang_of(admin.get("/incidents", headers={"Accept-Language": "az"}).text) == "az"


def test_a_language_not_offered_or_a_foreign_next_is_refused(analyst, node):
    assert pick_language(analyst, "de").status_code == 400
    html = analyst.get("/incidents").text
    off_site = analyst.post("/language", data={"csrf_token": csrf_from(html), "language": "ru",
                                               "next": "//evil.example/"})
    assert off_site.headers["Location"] == "/incidents"
    assert analyst.post("/language", data={"language": "ru", "next": "/"}).status_code == 400  # no CSRF token


def test_the_cli_gives_a_new_account_its_language(web_home):
    from node.users import add_user
    store = Node(web_home).store
    add_user(store, "aigerim", "analyst", "a long password", language="kk")
    assert store.one("SELECT language FROM users WHERE name = 'aigerim'") == {"language": "kk"}
    with pytest.raises(Exception, match="language: 'klingon' is not one of en, ru, kk, uz_Latn, az, tr, ky"):
        add_user(store, "worf", "analyst", "a long password", language="klingon")


def test_the_form_list_and_errors_speak_the_readers_language(kk_app):
    client = kk_app.test_client()
    log_in(client, *ANALYST)
    kazakh = {"Accept-Language": "kk"}
    form = client.get("/incidents/new", headers=kazakh).text
    assert lang_of(form) == "kk" and '<label for="title">[kk] Тақырып</label>' in form
    assert '<option value="false">[kk] Жалған (false)</option>' in form  # the word, and the value as stored
    record = form_data(incident_record(title=""))
    answer = client.post("/incidents/new", data={"csrf_token": csrf_from(form), **record}, headers=kazakh)
    assert answer.status_code == 400
    assert "[kk] Ештеңе жазылмады:" in answer.text
    assert '<p class="field-error" role="alert">[kk] міндетті</p>' in answer.text
    Node = kk_app.extensions["qalqan_node"]
    Node.add_incident(incident_record(title="Шекара жабылады", verdict="false"))
    listing = client.get("/incidents", headers=kazakh).text
    assert "<h1>[kk] Инциденттер</h1>" in listing
    assert '<span class="verdict verdict-false" title="false">[kk] Жалған</span>' in listing
    assert "Шекара жабылады" in listing  # incident content as recorded
    assert '<option value="false" >[kk] Жалған (false)</option>' in listing  # filters keep the raw value
    english = client.get("/incidents", headers={"Accept-Language": "en"}).text
    assert "<h1>Incidents</h1>" in english and "[kk]" not in english


def test_public_pages_follow_lang_then_accept_language_never_the_session(kk_app):
    client = kk_app.test_client()
    log_in(client, *ANALYST)
    pick_language(client, "ky")
    page = client.get("/public/", headers={"Accept-Language": "ru"})
    assert lang_of(page.text) == "ru"  # the analyst's session is not what a public page follows
    assert "Accept-Language" in page.headers["Vary"]  # shared caches keep one answer per language
    assert lang_of(client.get("/public/?lang=uz").text) == "uz-Latn"
    kk = client.get("/public/?lang=kk")
    assert lang_of(kk.text) == "kk" and 'href="/public/feed.atom?lang=kk"' in kk.text
    missing = client.get("/public/incidents/incident--00000000-0000-4000-8000-000000000000?lang=kk")
    assert missing.status_code == 404 and "[kk] Табылмады" in missing.text
    Node = kk_app.extensions["qalqan_node"]
    Node.add_incident(incident_record(title="Зейнетақы тоқтайды", tlp="clear", language="kk", verdict="false",
                                      claim="Зейнетақы қаңтарда тоқтайды."))
    feed = client.get("/public/feed.atom?lang=kk").text
    assert "<title>Debunks by kz (language: kk)</title>" in feed  # a message the catalogue lacks stays English
    assert "[kk] Мәлімдеме: Зейнетақы қаңтарда тоқтайды." in feed and "[kk] Қорытынды: [kk] Жалған" in feed
    assert 'term="false"' in feed  # the category term stays the stored value


def test_a_users_choice_and_lang_stay_out_of_taxii(kk_app):
    client = kk_app.test_client()
    plain = client.get("/taxii2/", headers={"Accept": "application/taxii+json;version=2.1"})
    kazakh = client.get("/taxii2/?lang=kk", headers={"Accept": "application/taxii+json;version=2.1",
                                                      "Accept-Language": "kk"})
    assert kazakh.status_code == plain.status_code and kazakh.data == plain.data
    assert "Accept-Language" not in (kazakh.headers.get("Vary") or "")


def test_dates_and_numbers_follow_the_locale_and_machines_keep_iso(analyst, admin, node):
    node.add_incident(incident_record(first_seen="2026-11-20T08:00:00Z"))
    with node.store.transaction() as db:
        db["peers"].insert({"name": "uz", "last_attempt": 1_790_000_000_000_000, "received": 12345})
    for header, date in (("ru", "20 нояб. 2026\u202fг., 08:00 UTC"), ("tr", "20 Kas 2026 08:00 UTC"),
                         ("en", "Nov 20, 2026, 8:00\u202fAM UTC")):
        page = analyst.get("/incidents", headers={"Accept-Language": header}).text
        assert f'<time datetime="2026-11-20T08:00:00Z">{date}</time>' in page, header
    for header, number in (("ru", "12\xa0345"), ("tr", "12.345"), ("en", "12,345")):
        assert f"<td>{number}</td>" in admin.get("/admin/peers", headers={"Accept-Language": header}).text
    csv = analyst.get("/incidents.csv", headers={"Accept-Language": "ru"}).text
    assert ",2026-11-20T08:00:00" in csv and "нояб" not in csv  # CSV keeps ISO whatever the reader's language


def test_a_node_without_compiled_catalogues_says_so_and_serves_english(web_home, tmp_path, caplog):
    empty = tmp_path / "no-catalogues"
    empty.mkdir()
    with caplog.at_level("WARNING", logger="qalqan"):
        app = create_app(web_home, {"BABEL_TRANSLATION_DIRECTORIES": str(empty)})
    assert any("UI catalogues not compiled for en, ru, kk, uz_Latn, az, tr, ky" in r.getMessage()
               and "scripts/i18n.sh compile" in r.getMessage() for r in caplog.records)
    page = app.test_client().get("/login", headers={"Accept-Language": "ru"}).text
    assert lang_of(page) == "ru" and '<label for="name">User name</label>' in page
