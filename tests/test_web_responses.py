"""Responses in the analyst UI: the form on any incident held (own or a partner's), errors
next to their field with nothing stored, the list on the incident page."""
import re
from html import unescape

from node.response_index import responses_of
from web_fixtures import csrf_from, import_from, incident_record, post_form

FORM = {"kind": "debunk-published", "at": "2026-11-21 09:30",
        "description": "Debunk <script>alert(1)</script> published in kk and ru.",
        "url": "https://factcheck.example.kz/border", "countermeasures": ["C00125", "C00008"]}


def responses_section(html: str) -> str:
    return html.split('id="responses"', 1)[1].split("</section>", 1)[0]


def text_of(html: str) -> str:
    """What a reader sees: tags dropped (escaped text stays text), spaces collapsed."""
    return unescape(" ".join(re.sub(r"<[^>]+>", " ", html).split()))


def test_an_analyst_records_a_response_and_the_incident_page_lists_it(analyst, node):
    incident = node.add_incident(incident_record(tlp="amber")).incident_id
    page = analyst.get(f"/incidents/{incident}").text
    assert f'href="/incidents/{incident}/responses/new"' in page and "None recorded yet." in page
    form = analyst.get(f"/incidents/{incident}/responses/new").text
    assert 'value="debunk-published"' in form and "C00125 Prebunking" in form and "TLP:AMBER" in form
    response = post_form(analyst, f"/incidents/{incident}/responses/new", FORM)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/incidents/{incident}#responses")

    [row] = responses_of(node.store.conn, incident)
    assert (row["recorded_by"], row["tlp"], row["kind"]) == ("ana", "amber", "debunk-published")
    page = analyst.get(f"/incidents/{incident}").text
    assert "<script>alert(1)</script>" not in page  # escaped, never run
    shown = text_of(responses_section(page))
    assert ("Nov 21, 2026, 9:30 AM UTC Debunk published ana kz (KZ) — this node Debunk <script>alert(1)</script> "
            "published in kk and ru. https://factcheck.example.kz/border C00125 Prebunking "
            "C00008 Create shared fact-checking database") in shown
    assert 'href="https://factcheck.example.kz/border" rel="noopener noreferrer nofollow"' in page


def test_a_bad_field_is_shown_next_to_it_and_nothing_is_stored(analyst, node):
    incident = node.add_incident(incident_record()).incident_id
    response = post_form(analyst, f"/incidents/{incident}/responses/new", {**FORM, "countermeasures": ["C09999"]})
    assert response.status_code == 400
    row = response.text.split('id="row-countermeasures"', 1)[1].split("</div>", 1)[0]
    assert "C09999 is not a countermeasure of the loaded DISARM framework" in row
    assert "Nothing was recorded" in response.text and FORM["url"] in response.text  # what was typed stays
    response = post_form(analyst, f"/incidents/{incident}/responses/new", {**FORM, "at": "2999-01-01"})
    assert response.status_code == 400 and "is later than now" in response.text.split('id="row-at"', 1)[1]
    assert responses_of(node.store.conn, incident) == []
    assert node.store.one("SELECT COUNT(*) AS n FROM objects WHERE type = 'course-of-action'")["n"] == 0


def test_a_response_to_a_partners_incident_and_the_partners_own_show_who_and_which_node(analyst, node, uz):
    incident = uz.add_incident(incident_record(tlp="green")).incident_id
    import_from(node, uz)
    assert post_form(analyst, f"/incidents/{incident}/responses/new", FORM).status_code == 302
    uz.trust_card(node.card())
    import_from(uz, node)  # UZ gets KZ's response, and answers with its own
    uz.add_response(incident, {"kind": "press-statement", "at": "2026-11-22", "description": "Statement."})
    import_from(node, uz)
    shown = text_of(responses_section(analyst.get(f"/incidents/{incident}").text))
    assert "Debunk published ana kz (KZ) — this node" in shown
    assert shown.index("Debunk published") < shown.index("Press statement")  # oldest first
    assert shown.endswith("Press statement — uz (UZ) Statement. — —")


def test_a_withdrawn_or_unknown_incident_takes_no_response(analyst, node):
    incident = node.add_incident(incident_record()).incident_id
    node.withdraw_incident(incident, "Satire, not a fake.")
    assert "Record a response" not in analyst.get(f"/incidents/{incident}").text
    response = analyst.get(f"/incidents/{incident}/responses/new")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/incidents/{incident}")
    assert "was withdrawn by its source" in analyst.get(f"/incidents/{incident}").text
    page = analyst.get(f"/incidents/{incident}").text
    forged = analyst.post(f"/incidents/{incident}/responses/new", data={**FORM, "csrf_token": csrf_from(page)})
    assert forged.status_code == 302 and responses_of(node.store.conn, incident) == []
    assert analyst.get("/incidents/incident--00000000-0000-4000-8000-000000000000/responses/new").status_code == 404
    assert analyst.get("/incidents/not-an-id/responses/new").status_code == 404
