"""The UI's incident index: filled by the one ingest path whatever the arrival order,
and rebuilt for incidents stored before it existed."""
import io
import json

import pytest

from node.app import create_app
from node.home import Node
from node.ingest import IMPORT, Door
from node.web.index import Filters, list_incidents, related_incidents
from web_fixtures import incident_record


def own_objects(node: Node) -> list[dict]:
    out = io.StringIO()
    node.export(out)
    return json.loads(out.getvalue())["objects"]


def found(node: Node, text: str) -> list[str]:
    return [r["title"] for r in list_incidents(node.store, Filters(text=text))]


@pytest.mark.parametrize("order", ["report first", "incident first", "observables last"])
def test_the_index_is_complete_whatever_order_the_objects_arrive_in(kz, uz, order):
    uz.add_incident(incident_record(title="Order test", urls=["https://t.me/order/1"]))
    mine = kz.add_incident(incident_record(title="Mine", urls=["https://t.me/order/1"]))
    objects = own_objects(uz)
    if order == "report first":
        objects.sort(key=lambda o: o["type"] != "report")
    elif order == "incident first":
        objects.sort(key=lambda o: o["type"] != "incident")
    else:
        objects.sort(key=lambda o: o["type"] in ("url", "domain-name", "user-account", "file"))
    kz.trust_card(uz.card())
    for obj in objects:  # one object per batch, as a slow sync would deliver them
        kz.ingest.run([obj], Door(IMPORT))
    assert found(kz, "t.me/order") == ["Order test", "Mine"]
    assert found(kz, "Unknown network") == ["Order test", "Mine"]
    assert [r["title"] for r in related_incidents(kz.store, mine.incident_id).incidents] == ["Order test"]


def test_quarantined_incidents_enter_the_index_when_their_signer_is_trusted(kz, uz):
    uz.add_incident(incident_record(title="Held back"))
    out = io.StringIO()
    uz.export(out)
    kz.import_stream(io.BytesIO(out.getvalue().encode()))
    assert found(kz, "held") == []
    kz.trust_card(uz.card())
    assert found(kz, "held") == ["Held back"]


def test_a_node_without_the_index_tables_gets_them_filled_when_the_ui_starts(kz):
    kz.add_incident(incident_record(title="Before the UI"))
    with kz.store.transaction() as db:
        for table in ("web_incidents", "web_incident_terms", "web_incident_fts"):
            db.execute(f"DELETE FROM {table}")
    assert found(kz, "before") == []
    app = create_app(kz.home)
    assert found(app.extensions["qalqan_node"], "before") == ["Before the UI"]


def test_a_new_version_of_an_incident_replaces_its_row_in_place(kz):
    from node.signing import SIGNATURE_EXT, sign
    from node.wellknown import DISINFO_EXT
    result = kz.add_incident(incident_record(title="First title", verdict="unverified"))
    kz.add_incident(incident_record(title="Later incident"))
    incident = json.loads(kz.store.object_json(result.incident_id))
    del incident["extensions"][SIGNATURE_EXT]
    incident["extensions"][DISINFO_EXT]["verdict"] = "false"
    incident.update(name="Corrected title", modified="2099-01-01T00:00:00.000Z")
    kz.ingest.run([sign(incident, kz.signing_key)], Door("own"))
    rows = list_incidents(kz.store, Filters())
    assert [r["title"] for r in rows] == ["Later incident", "Corrected title"]
    assert [r["title"] for r in list_incidents(kz.store, Filters(terms={"verdict": "unverified"}))] == []
    assert found(kz, "first") == []


def test_a_failing_index_write_does_not_cost_the_node_the_incident(kz, monkeypatch, caplog):
    from node import incident_index as index

    def broken(*args, **kwargs):
        raise RuntimeError("index bug")

    monkeypatch.setattr(index, "index_incident", broken)
    result = kz.add_incident(incident_record(title="Stored anyway"))
    assert kz.store.object_json(result.incident_id) is not None
    assert "could not take" in caplog.text
    monkeypatch.undo()
    assert found(kz, "anyway") == []
    create_app(kz.home)  # the next start indexes what is missing
    assert found(kz, "anyway") == ["Stored anyway"]
