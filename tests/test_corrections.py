"""Corrections and withdrawals of an own incident (issue 12, point 1): new signed versions of
the same objects, what the correction drops revoked, withdrawn incidents out of default
lists and public pages, one clear error and nothing stored for what may not be done."""
import json

import pytest
import yaml

from node.errors import InputError
from node.incident_index import CORRECTED_TERM, WITHDRAWN_TERM
from node.signing import SIGNATURE_EXT
from node.timefmt import taxii_to_us, version_key
from node.wellknown import DISINFO_EXT
from node.web.index import Filters, list_incidents
from conftest import incident_record, set_feed


def latest(node, object_id) -> dict:
    return json.loads(node.store.object_json(object_id))


def versions(node, object_id) -> list[str]:
    return [v["version"] for v in node.store.versions_of(object_id)]


def object_count(node) -> int:
    return node.store.one("SELECT COUNT(*) AS n FROM objects")["n"]


def terms_of(node, incident_id) -> set[tuple[str, str]]:
    return {(r["kind"], r["value"]) for r in node.store.query(
        "SELECT t.kind, t.value FROM web_incident_terms t JOIN web_incidents i ON i.n = t.incident"
        " WHERE i.incident_id = ?", [incident_id])}


def relationships_of(node, incident_id) -> dict[tuple[str, str], dict]:
    rows = node.store.query("SELECT json FROM objects WHERE type = 'relationship' AND latest = 1")
    return {(o["relationship_type"], o["target_ref"]): o for o in (json.loads(r["json"]) for r in rows)
            if o["source_ref"] == incident_id}


def test_an_edit_signs_new_versions_of_the_same_objects_and_revokes_what_it_drops(kz):
    first = kz.add_incident(incident_record())
    before = latest(kz, first.incident_id)
    uses_before = {k: v for k, v in relationships_of(kz, first.incident_id).items() if k[0] == "uses"}

    record = incident_record(title="Corrected title", verdict="misleading", disarm=["T0023"],
                             urls=["https://news.example.kz/border"])
    result = kz.edit_incident(first.incident_id, record)

    assert (result.incident_id, result.report_id) == (first.incident_id, first.report_id)
    incident = latest(kz, first.incident_id)
    assert incident["name"] == "Corrected title"
    assert incident["extensions"][DISINFO_EXT]["verdict"] == "misleading"
    assert incident["extensions"][DISINFO_EXT]["case_id"] == before["extensions"][DISINFO_EXT]["case_id"]
    assert incident["created"] == before["created"] and incident["modified"] > before["modified"]
    assert SIGNATURE_EXT in incident["extensions"]
    assert len(versions(kz, first.incident_id)) == 2 and len(versions(kz, first.report_id)) == 2

    report = latest(kz, first.report_id)
    assert report["published"] == json.loads(kz.store.object_json(first.report_id, versions(kz, first.report_id)[0]))[
        "published"]
    urls = [latest(kz, ref)["value"] for ref in report["object_refs"] if ref.startswith("url--")]
    assert urls == ["https://news.example.kz/border"]

    dropped = next(v for k, v in uses_before.items() if "T0086.002" in json.dumps(v["external_references"]))
    assert latest(kz, dropped["id"])["revoked"] is True
    kept = next(v for k, v in uses_before.items() if "T0023" in json.dumps(v["external_references"]))
    assert versions(kz, kept["id"]) == [version_key(kept["modified"])], "an unchanged relationship is not versioned again"

    row = kz.store.one("SELECT title, verdict FROM web_incidents WHERE incident_id = ?", [first.incident_id])
    assert dict(row) == {"title": "Corrected title", "verdict": "misleading"}
    assert CORRECTED_TERM in terms_of(kz, first.incident_id)
    found = list_incidents(kz.store, Filters(text="t.me"))
    assert first.incident_id not in [r["incident_id"] for r in found], "the dropped URL is no longer searchable"


def test_the_record_of_an_incident_round_trips_through_an_edit(kz):
    first = kz.add_incident(incident_record(tlp="amber"))
    from node.corrections import held_incident, record_of
    record = record_of(kz, held_incident(kz, first.incident_id))
    for name, value in incident_record(tlp="amber").items():
        same = taxii_to_us if name.endswith("_seen") else (lambda v: v)
        assert same(record[name]) == same(value), name
    count = object_count(kz)
    result = kz.edit_incident(first.incident_id, record)
    assert result.summary.counts["accepted"] == 0, "nothing changed, so nothing new is signed"
    assert object_count(kz) == count


def test_only_the_source_corrects_or_withdraws_and_errors_store_nothing(kz, uz):
    kz.trust_card(uz.card())
    theirs = uz.add_incident(incident_record())
    bundle = [json.loads(uz.store.object_json(r["id"])) for r in uz.store.query(
        "SELECT id FROM objects WHERE latest = 1")]
    kz.ingest.run(bundle, __import__("node.ingest", fromlist=["Door"]).Door("import"))
    count = object_count(kz)
    with pytest.raises(InputError, match="incident: .*recorded by another node"):
        kz.edit_incident(theirs.incident_id, incident_record(title="Mine now"))
    with pytest.raises(InputError, match="incident: .*recorded by another node"):
        kz.withdraw_incident(theirs.incident_id, "not ours")
    with pytest.raises(InputError, match="incident: no incident"):
        kz.edit_incident("incident--00000000-0000-4000-8000-000000000000", incident_record())
    own = kz.add_incident(incident_record())
    count = object_count(kz)
    with pytest.raises(InputError, match="^title"):
        kz.edit_incident(own.incident_id, incident_record(title=""))
    with pytest.raises(InputError, match="^reason"):
        kz.withdraw_incident(own.incident_id, "   ")
    assert object_count(kz) == count


def test_lowering_the_tlp_asks_for_confirmation(kz):
    first = kz.add_incident(incident_record(tlp="amber"))
    count = object_count(kz)
    with pytest.raises(InputError, match="^tlp: lowering it from amber to clear"):
        kz.edit_incident(first.incident_id, incident_record(tlp="clear"))
    assert object_count(kz) == count
    kz.edit_incident(first.incident_id, incident_record(tlp="green"), lower_tlp_confirmed=True)
    assert kz.store.one("SELECT tlp FROM objects WHERE id = ? AND latest = 1", [first.incident_id])["tlp"] == "green"
    kz.edit_incident(first.incident_id, incident_record(tlp="red"))  # raising needs no confirmation


def test_an_edit_without_share_keeps_the_feeds_the_incident_was_shared_in(kz):
    first = kz.add_incident(incident_record(share=["bilateral"]))

    def feeds() -> set[str]:
        return {r["feed"] for r in kz.store.query("SELECT e.feed FROM feed_entries e JOIN objects o ON o.id = e.id"
                                                  " AND o.version = e.version AND o.latest = 1 WHERE e.id = ?",
                                                  [first.incident_id])}
    shared = feeds()
    kz.edit_incident(first.incident_id, incident_record(title="Edited"))
    assert feeds() == shared and len(shared) == 1


def test_a_withdrawal_revokes_with_the_reason_and_leaves_default_lists_and_public_pages(kz):
    first = kz.add_incident(incident_record(tlp="clear"))
    assert ("public", "debunk") in terms_of(kz, first.incident_id)
    kz.withdraw_incident(first.incident_id, "The video was authentic after all.")

    incident = latest(kz, first.incident_id)
    assert incident["revoked"] is True
    assert incident["extensions"][DISINFO_EXT]["withdrawal_reason"] == "The video was authentic after all."
    assert latest(kz, first.report_id)["revoked"] is True
    assert all(r["revoked"] for r in relationships_of(kz, first.incident_id).values())
    terms = terms_of(kz, first.incident_id)
    assert WITHDRAWN_TERM in terms and ("public", "debunk") not in terms
    assert list_incidents(kz.store, Filters()) == []
    listed = list_incidents(kz.store, Filters(terms={"state": "withdrawn"}))
    assert [r["incident_id"] for r in listed] == [first.incident_id]
    with pytest.raises(InputError, match="withdrawn"):
        kz.edit_incident(first.incident_id, incident_record())


def test_the_cli_shows_edits_and_withdraws(kz, qalqan, tmp_path):
    first = kz.add_incident(incident_record())
    shown = qalqan("incident", "show", first.incident_id, home=kz.home)
    assert shown.returncode == 0, shown.stderr
    record = yaml.safe_load(shown.stdout)
    record["title"] = "Edited from the command line"
    path = tmp_path / "edit.yaml"
    path.write_text(yaml.safe_dump(record, allow_unicode=True))
    edited = qalqan("incident", "edit", first.incident_id, str(path), home=kz.home)
    assert edited.returncode == 0, edited.stderr
    assert "corrected" in edited.stdout
    record["tlp"] = "clear"
    path.write_text(yaml.safe_dump(record, allow_unicode=True))
    refused = qalqan("incident", "edit", first.incident_id, str(path), home=kz.home)
    assert refused.returncode != 0 and "tlp: lowering it from green to clear" in refused.stderr
    assert qalqan("incident", "edit", first.incident_id, str(path), "--lower-tlp", home=kz.home).returncode == 0
    withdrawn = qalqan("incident", "withdraw", first.incident_id, "--reason", "Duplicate of KZ-2026-1", home=kz.home)
    assert withdrawn.returncode == 0, withdrawn.stderr
    node = type(kz)(kz.home)
    assert latest(node, first.incident_id)["extensions"][DISINFO_EXT]["withdrawal_reason"] == "Duplicate of KZ-2026-1"


# -- the UI --------------------------------------------------------------------------

def test_the_ui_corrects_with_a_filled_form_and_shows_what_changed(analyst, node):
    from web_fixtures import csrf_from, post_form
    first = node.add_incident(incident_record())
    page = analyst.get(f"/incidents/{first.incident_id}/edit")
    assert page.status_code == 200
    assert 'value="Fabricated «ministry statement» video"' in page.text.replace("&#34;", '"') or \
        "Fabricated «ministry statement» video" in page.text
    record = incident_record(title="Corrected in the form", verdict="misleading", share=["regional", "bilateral"])
    from web_fixtures import form_data
    done = post_form(analyst, f"/incidents/{first.incident_id}/edit", form_data(record))
    assert done.status_code == 302, done.text
    shown = analyst.get(f"/incidents/{first.incident_id}").text
    assert 'id="corrected"' in shown and "Corrected by the source on" in shown
    history = shown.split('id="history"', 1)[1]
    assert "Fabricated «ministry statement» video" in history and "Corrected in the form" in history
    assert "fabricated" in history and "misleading" in history


def test_lowering_the_tlp_in_the_form_asks_first_and_stores_nothing_until_confirmed(analyst, node):
    from web_fixtures import form_data, post_form
    first = node.add_incident(incident_record(tlp="amber"))
    count = object_count(node)
    record = incident_record(tlp="green", share=["regional", "bilateral"])
    refused = post_form(analyst, f"/incidents/{first.incident_id}/edit", form_data(record))
    assert refused.status_code == 400
    assert "lowering it from amber to green" in refused.text and 'name="lower_tlp"' in refused.text
    assert object_count(node) == count
    confirmed = post_form(analyst, f"/incidents/{first.incident_id}/edit", {**form_data(record), "lower_tlp": "y"})
    assert confirmed.status_code == 302, confirmed.text
    assert node.store.one("SELECT tlp FROM objects WHERE id = ? AND latest = 1", [first.incident_id])["tlp"] == "green"


def test_the_ui_withdraws_with_a_reason_and_the_page_says_so(analyst, node):
    from web_fixtures import post_form
    first = node.add_incident(incident_record())
    empty = post_form(analyst, f"/incidents/{first.incident_id}/withdraw", {"reason": ""})
    assert empty.status_code == 400 and "say why" in empty.text
    done = post_form(analyst, f"/incidents/{first.incident_id}/withdraw", {"reason": "Satire, not a fake."})
    assert done.status_code == 302
    shown = analyst.get(f"/incidents/{first.incident_id}").text
    assert 'id="withdrawn"' in shown and "Withdrawn by the source" in shown and "Satire, not a fake." in shown
    assert f"/incidents/{first.incident_id}/edit" not in shown
    assert first.incident_id not in analyst.get("/incidents").text
    assert first.incident_id in analyst.get("/incidents?state=withdrawn").text


def test_a_partners_incident_offers_no_correction(analyst, node, make_home):
    from node.home import Node
    from web_fixtures import import_from
    uz = Node(make_home("uz", "UZ", 8002))
    theirs = uz.add_incident(incident_record())
    import_from(node, uz)
    shown = analyst.get(f"/incidents/{theirs.incident_id}").text
    assert f"/incidents/{theirs.incident_id}/edit" not in shown
    refused = analyst.get(f"/incidents/{theirs.incident_id}/edit")
    assert refused.status_code == 302
    assert "recorded by another node" in analyst.get(refused.headers["Location"]).text
