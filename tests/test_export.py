"""`qalqan export` (node/export.py): a feed's export is what a reader of that feed gets;
the default export is this node's own shareable objects; `--all` adds what partners sent."""
import io
import json

from node.wellknown import TLP_MARKINGS, well_known_objects

from conftest import incident_record
from web_fixtures import import_from


def exported_ids(node, **options) -> set[str]:
    out = io.StringIO()
    count = node.export(out, **options)
    bundle = json.loads(out.getvalue())
    assert bundle["type"] == "bundle" and len(bundle["objects"]) == count
    return {o["id"] for o in bundle["objects"]}


def test_a_feed_export_holds_what_the_feed_carries_and_nothing_above_its_ceiling(kz):
    green = kz.add_incident(incident_record(title="Green", tlp="green"))
    amber = kz.add_incident(incident_record(title="Amber", tlp="amber"))
    regional = exported_ids(kz, feed="regional")  # ceiling green
    assert green.incident_id in regional and amber.incident_id not in regional
    unmarked = {o["id"] for o in well_known_objects() if o["type"] != "marking-definition"}
    assert unmarked <= regional and kz.config.identity in regional
    assert markings_in(regional) == {TLP_MARKINGS["green"]}
    bilateral = exported_ids(kz, feed="bilateral")  # ceiling amber
    assert {green.incident_id, amber.incident_id} <= bilateral
    assert markings_in(bilateral) == {TLP_MARKINGS["green"], TLP_MARKINGS["amber"]}


def markings_in(ids: set[str]) -> set[str]:
    return {i for i in ids if i.startswith("marking-definition--")}


def test_every_export_carries_exactly_the_markings_its_objects_reference_never_red_or_amber_strict(kz, uz):
    assert markings_in(exported_ids(kz)) == set()  # nothing recorded: nothing marked
    kz.add_incident(incident_record(title="Clear", tlp="clear"))
    kz.add_incident(incident_record(title="Red", tlp="red"))
    kz.add_incident(incident_record(title="Strict", tlp="amber+strict"))
    assert markings_in(exported_ids(kz)) == {TLP_MARKINGS["clear"]}
    assert markings_in(exported_ids(kz, feed="public")) == {TLP_MARKINGS["clear"]}
    theirs = uz.add_incident(incident_record(title="From UZ", tlp="green"))
    import_from(kz, uz)
    assert markings_in(exported_ids(kz)) == {TLP_MARKINGS["clear"]}
    everything = exported_ids(kz, everything=True)
    assert theirs.incident_id in everything
    assert markings_in(everything) == {TLP_MARKINGS["clear"], TLP_MARKINGS["green"]}


def test_red_never_leaves_and_partners_objects_only_with_everything(kz, uz):
    red = kz.add_incident(incident_record(title="Red", tlp="red"))
    theirs = uz.add_incident(incident_record(title="From UZ", tlp="green"))
    import_from(kz, uz)
    own = exported_ids(kz)
    assert red.incident_id not in own and theirs.incident_id not in own
    everything = exported_ids(kz, everything=True)
    assert theirs.incident_id in everything and red.incident_id not in everything


def test_an_export_longer_than_one_page_holds_every_object_once(kz, monkeypatch):
    from node import export
    monkeypatch.setattr(export, "PAGE", 3)
    for n in range(3):
        kz.add_incident(incident_record(title=f"Incident {n}", tlp="green"))
    out = io.StringIO()
    kz.export(out, feed="regional")
    ids = [o["id"] for o in json.loads(out.getvalue())["objects"]]
    assert len(ids) == len(set(ids)) > 3 * 3
    monkeypatch.setattr(export, "PAGE", 1000)
    assert set(ids) == exported_ids(kz, feed="regional")
