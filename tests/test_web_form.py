"""The incident form: labels, DISARM picker, who-will-see-it, errors next to fields,
input kept, and on success the same path as `qalqan incident add`."""
import json
import re
from html import unescape

import pytest

from node.wellknown import DISINFO_EXT
from web_fixtures import form_data, incident_record, post_form

LABELS = ["Title", "Summary", "Claim", "Language", "First seen", "Last seen", "Platforms", "Target countries",
          "DISARM", "URLs", "Accounts", "Media SHA-256", "Verdict", "Confidence", "Fact-check URL",
          "Threat actor", "TLP", "Share"]


def labels_of(html: str) -> dict[str, str]:
    """label text → the id of the control it labels."""
    return {unescape(text).strip(): target for target, text in re.findall(r'<label for="([^"]+)">([^<]+)</label>', html)}


def field_errors(html: str, field: str) -> list[str]:
    row = re.search(rf'<div class="field has-error" id="row-{field}">(.*?)</div>', html, re.S)
    assert row, f"no error shown next to {field}"
    return [unescape(e) for e in re.findall(r'<p class="field-error" role="alert">([^<]*)</p>', row.group(1))]


def incident_count(node) -> int:
    return node.store.one("SELECT COUNT(*) AS n FROM objects WHERE type = 'incident'")["n"]


def submit(client, **overrides):
    record = incident_record(**overrides)
    record = {k: v for k, v in record.items() if v is not None}
    return post_form(client, "/incidents/new", form_data(record))


def test_the_form_labels_every_field_with_its_record_name(analyst):
    html = analyst.get("/incidents/new").text
    labels = labels_of(html)
    for label in LABELS:
        assert label in labels, f"no label {label!r}"
        assert f'id="{labels[label]}"' in html


def test_disarm_techniques_are_offered_by_id_and_name_grouped_by_tactic(analyst, node):
    html = analyst.get("/incidents/new").text
    groups = re.findall(r'<optgroup label="([^"]+)">', html)
    assert [name for name, _ in node.disarm.by_tactic()] == [unescape(g) for g in groups]
    assert '<option value="T0023">T0023 Distort Facts</option>' in html
    assert 'id="disarm-filter"' in html


def test_a_fresh_home_offers_the_built_in_disarm_reference_and_refuses_unknown_ids(make_home):
    from node.app import create_app
    from node.home import Node
    from node.users import add_user
    from web_fixtures import log_in
    home = make_home("kg", "KG")
    add_user(Node(home).store, "ana", "analyst", "analyst-password-1")
    client = create_app(home).test_client()
    log_in(client, "ana", "analyst-password-1")
    html = client.get("/incidents/new").text
    assert '<optgroup label="Develop Content">' in html
    assert '<option value="T0086.002">T0086.002 Develop AI-Generated Images (Deepfakes)</option>' in html
    assert "DISARM Framework © DISARM Foundation, CC BY-SA 4.0; release of 2024-11-22." in html
    response = post_form(client, "/incidents/new", form_data(incident_record(disarm=["T0023", "T9999"])))
    assert response.status_code == 400
    assert any("T9999 is not a technique of the loaded DISARM framework" in e
               for e in field_errors(response.text, "disarm"))


def test_the_form_says_who_will_see_each_tlp_level(analyst, web_home):
    from conftest import set_feed
    set_feed(web_home, "bilateral", readers=["uz"])
    from node.app import create_app
    from web_fixtures import log_in, ANALYST
    client = create_app(web_home).test_client()
    log_in(client, *ANALYST)
    html = unescape(client.get("/incidents/new").text)
    rows = dict(re.findall(r'data-tlp="([^"]+)">.*?<dd>(.*?)</dd>', html, re.S))
    assert "Never leaves this node" in rows["red"] and "Never leaves this node" in rows["amber+strict"]
    assert "partner nodes uz" in rows["amber"] and "Public" not in rows["amber"]
    assert "anyone, without an account" in rows["clear"]
    assert "carries up to TLP:AMBER; read by partner nodes uz" in html


def test_the_default_tlp_comes_from_the_config_and_every_feed_is_ticked(analyst, node):
    html = analyst.get("/incidents/new").text
    assert re.search(r'<option selected value="amber">|<option value="amber" selected>', html)
    for name in node.config.feeds:
        assert re.search(rf'<input checked[^>]*value="{name}"|<input[^>]*value="{name}"[^>]*checked', html)


def test_a_good_record_is_signed_stored_and_the_analyst_sees_its_page(analyst, node):
    response = submit(analyst)
    assert response.status_code == 302
    incident_id = response.location.rsplit("/", 1)[1]
    stored = node.store.one("SELECT created_by, key_id, tlp FROM objects WHERE id = ?", [incident_id])
    assert stored["created_by"] == node.config.identity and stored["key_id"] == node.signing_key.key_id
    assert stored["tlp"] == "green"
    page = analyst.get(response.location)
    assert page.status_code == 200
    assert "Recorded and signed" in page.text


def test_text_is_stored_exactly_as_typed(analyst, node):
    title = "  Ложь «о границе» <b>bold</b> & 'quotes' — Қазақ  "
    summary = "First line.\n\n  Indented second <i>line</i>.\t"
    response = post_form(analyst, "/incidents/new", {**form_data(incident_record()), "title": title,
                                                     "summary": summary.replace("\n", "\r\n"),
                                                     "claim": "Exact   claim", "threat_actor": " Actor  "})
    incident = json.loads(node.store.object_json(response.location.rsplit("/", 1)[1]))
    assert incident["name"] == title
    assert incident["description"] == summary
    assert incident["extensions"][DISINFO_EXT]["claim"] == "Exact   claim"


def test_codes_are_normalised_but_free_text_is_not(analyst, node):
    data = {**form_data(incident_record()), "language": " RU ", "platforms": "Telegram, TikTok",
            "target_countries": "kz uz", "first_seen": " 2026-11-20 ", "threat_actor": " Mixed Case "}
    response = post_form(analyst, "/incidents/new", data)
    incident = json.loads(node.store.object_json(response.location.rsplit("/", 1)[1]))
    ext = incident["extensions"][DISINFO_EXT]
    assert incident["lang"] == "ru" and ext["platforms"] == ["telegram", "tiktok"]
    assert ext["target_countries"] == ["KZ", "UZ"] and ext["first_seen"] == "2026-11-20T00:00:00.000Z"
    actor = node.store.one("SELECT json FROM objects WHERE type = 'threat-actor'")["json"]
    assert '"name":" Mixed Case "' in actor


def test_every_recorded_field_reaches_the_stix_objects(analyst, node):
    response = submit(analyst, last_seen="2026-11-22T10:00:00Z")
    incident = json.loads(node.store.object_json(response.location.rsplit("/", 1)[1]))
    ext = incident["extensions"][DISINFO_EXT]
    assert ext["platforms"] == ["telegram", "tiktok"] and ext["target_countries"] == ["KZ", "UZ"]
    assert ext["disarm_techniques"] == ["T0023", "T0086.002"] and ext["verdict"] == "fabricated"
    assert ext["first_seen"] == "2026-11-20T08:00:00.000Z" and ext["last_seen"] == "2026-11-22T10:00:00.000Z"
    assert incident["confidence"] == 85 and incident["lang"] == "ru"
    values = {row["type"]: row for row in node.store.query(
        "SELECT o.type, o.json FROM report_refs r JOIN objects o ON o.id = r.ref WHERE r.ref NOT LIKE 'incident--%'")}
    assert '"https://t.me/fakechannel/123"' in values["url"]["json"]
    assert '"@fakechannel"' in values["user-account"]["json"]
    assert "Unknown network" in values["threat-actor"]["json"]


def test_the_form_goes_the_same_way_as_incident_add_into_the_feeds(analyst, node):
    response = submit(analyst, tlp="green", share=["regional"])
    incident_id = response.location.rsplit("/", 1)[1]
    assert node.store.feeds_of(incident_id) == [node.config.feeds["regional"].id]


def test_the_form_takes_a_date_and_time_as_typed_without_a_zone(analyst, node):
    response = submit(analyst, tlp="green", first_seen="2026-11-29 07:45", last_seen="2026-11-30")
    assert response.status_code == 302
    incident = json.loads(node.store.object_json(response.location.rsplit("/", 1)[1]))
    assert (incident["first_seen"], incident["last_seen"]) == ("2026-11-29T07:45:00.000Z", "2026-11-30T00:00:00.000Z")


def test_unticking_every_feed_keeps_the_incident_on_this_node(analyst, node):
    response = submit(analyst, tlp="clear", share=[])
    assert response.status_code == 302
    assert node.store.feeds_of(response.location.rsplit("/", 1)[1]) == []


def test_a_post_that_never_showed_the_feed_boxes_shares_like_incident_add(analyst, node):
    data = form_data(incident_record(tlp="green"))
    assert "share_offered" not in data
    response = post_form(analyst, "/incidents/new", data)
    feeds = node.store.feeds_of(response.location.rsplit("/", 1)[1])
    assert sorted(feeds) == sorted(node.config.feeds[name].id for name in ("bilateral", "regional"))


BAD_INPUT = [
    ({"title": ""}, "title", "this field is required"),
    ({"summary": ""}, "summary", "this field is required"),
    ({"language": "Russian"}, "language", "is not an ISO 639-1 code"),
    ({"first_seen": "last tuesday"}, "first_seen", "is not a date such as 2026-11-29, 2026-11-29 07:45 (UTC)"),
    ({"first_seen": ""}, "first_seen", "this field is required"),
    ({"last_seen": "2026-11-01"}, "last_seen", "earlier than first_seen"),
    ({"verdict": ""}, "verdict", "this field is required"),
    ({"platforms": ["tele gram!"]}, "platforms", "is not a platform name"),
    ({"target_countries": ["KAZ"]}, "target_countries", "is not an ISO 3166-1 alpha-2 code"),
    ({"disarm": ["T9999"]}, "disarm", "is not a technique of the loaded DISARM framework"),
    ({"urls": ["ftp://example.org/x"]}, "urls", "is not an http(s) URL"),
    ({"media_sha256": ["abc123"]}, "media_sha256", "is not a SHA-256 hash"),
    ({"confidence": 150}, "confidence", "is not a whole number from 0 to 100"),
    ({"fact_check_url": "factcheck.example"}, "fact_check_url", "is not an http(s) URL"),
    ({"threat_actor": "x" * 301}, "threat_actor", "longer than 300 characters"),
    ({"tlp": "purple"}, "tlp", "Not a valid choice"),
    ({"verdict": "true"}, "verdict", "Not a valid choice"),
]


@pytest.mark.parametrize("overrides, field, message", BAD_INPUT, ids=[f for _, f, _ in BAD_INPUT])
def test_a_bad_field_is_named_next_to_it_with_the_input_kept_and_nothing_stored(analyst, node, overrides, field,
                                                                                message):
    before = incident_count(node)
    response = submit(analyst, **overrides)
    assert response.status_code == 400
    assert any(message in e for e in field_errors(response.text, field))
    kept = unescape(response.text)
    if field != "urls":
        assert "https://t.me/fakechannel/123" in kept
    if field != "summary":
        assert "A video claims the Kazakhstan–Uzbekistan border closes tomorrow." in kept
    if field != "title":
        assert 'value="Fabricated «ministry statement» video"' in kept
    assert incident_count(node) == before


def test_the_top_of_the_form_lists_the_fields_to_correct(analyst):
    response = submit(analyst, title="", urls=["nope"])
    summary = re.search(r'<p class="error" role="alert" id="error-summary">(.*?)</p>', response.text, re.S)
    assert summary and '<a href="#row-title">Title</a>' in summary.group(1)


def test_an_account_line_without_a_login_is_named_next_to_accounts(analyst, node):
    response = post_form(analyst, "/incidents/new", {**form_data(incident_record()), "accounts": "telegram"})
    assert response.status_code == 400
    assert "write the platform, a space, then the login" in field_errors(response.text, "accounts")[0]
    assert incident_count(node) == 0


def test_the_picked_disarm_techniques_stay_picked_after_an_error(analyst):
    response = submit(analyst, title="")
    assert re.search(r'<option selected value="T0023">|<option value="T0023" selected>', response.text)


def test_submitting_without_a_csrf_token_is_refused_and_stores_nothing(analyst, node):
    response = analyst.post("/incidents/new", data=form_data(incident_record()))
    assert response.status_code == 400
    assert "The form expired" in response.text
    assert incident_count(node) == 0


def test_submitting_with_a_forged_csrf_token_is_refused(analyst, node):
    response = analyst.post("/incidents/new", data={**form_data(incident_record()), "csrf_token": "forged"})
    assert response.status_code == 400
    assert incident_count(node) == 0


def test_the_form_builds_the_same_stix_as_incident_add(analyst, node, tmp_path, qalqan):
    import yaml
    from collections import Counter
    record = incident_record()
    from_form = submit(analyst).location.rsplit("/", 1)[1]
    path = tmp_path / "record.yaml"
    path.write_text(yaml.safe_dump(record, allow_unicode=True), "utf-8")
    result = qalqan("incident", "add", str(path), home=node.home)
    assert result.returncode == 0, result.stderr
    from_cli = re.search(r"incident--[0-9a-f-]{36}", result.stdout).group(0)

    def shape(incident_id):
        incident = json.loads(node.store.object_json(incident_id))
        ext = {k: v for k, v in incident["extensions"][DISINFO_EXT].items() if k != "case_id"}
        report = node.store.one("SELECT report FROM report_refs WHERE ref = ?", [incident_id])["report"]
        types = Counter(r["ref"].split("--")[0] for r in node.store.query(
            "SELECT ref FROM report_refs WHERE report = ?", [report]))
        feeds = sorted(node.store.feeds_of(incident_id))
        return incident["name"], incident["description"], incident.get("confidence"), ext, types, feeds

    assert shape(from_form) == shape(from_cli)
