"""Every derived view (the incident index, its start-up backfill, the list, the
dashboard, the incident page) copes with any stored object: one partner incident with a
malformed extension or an absurd date must not stop the node or break a page."""
import json
import uuid

import pytest

from node.app import create_app
from node.incident_index import backfill
from node.signing import canonical
from node.wellknown import DISINFO_EXT, TLP_MARKINGS
from web_fixtures import ANALYST, log_in

STAMP = "2026-01-01T00:00:00.000Z"

MALFORMED_EXTENSIONS = [
    "not an object",
    ["a", "list"],
    {"extension_type": "property-extension", "languages": {"ru": 1}, "platforms": "telegram",
     "target_countries": [{"cc": "KZ"}], "disarm_techniques": 5, "first_seen": ["2026"], "verdict": {"x": 1},
     "claim": 12, "case_id": None},
    {"extension_type": "property-extension", "first_seen": "9999-12-31T23:59:59Z", "verdict": "false"},
    {"extension_type": "property-extension", "first_seen": "0001-01-01T00:00:00Z", "verdict": "false"},
    {"extension_type": "property-extension", "first_seen": "2026-13-45T99:00:00Z", "verdict": "false"},
]


def store_as_is(node, obj: dict) -> None:
    """Put an object in the store the way an older release (or a bug) might have."""
    data = canonical(obj)
    with node.store.transaction():
        node.store.insert_object({"id": obj["id"], "version": obj.get("modified", STAMP), "type": obj["type"],
                                  "created_by": obj.get("created_by_ref"), "tlp": "green", "origin": "peer",
                                  "source": "uz", "received": 1, "digest": str(uuid.uuid4()),
                                  "json": data.decode()})


def odd_incident(node, extension, **extra) -> dict:
    incident = {"type": "incident", "spec_version": "2.1", "id": f"incident--{uuid.uuid4()}", "created": STAMP,
                "modified": STAMP, "name": "Odd", "created_by_ref": "identity--00000000-0000-4000-8000-000000000001",
                "object_marking_refs": [TLP_MARKINGS["green"]], "extensions": {DISINFO_EXT: extension}, **extra}
    store_as_is(node, incident)
    return incident


@pytest.mark.parametrize("extension", MALFORMED_EXTENSIONS, ids=range(len(MALFORMED_EXTENSIONS)))
def test_a_malformed_stored_incident_does_not_stop_start_up_or_break_pages(web_home, extension):
    from node.home import Node
    node = Node(web_home)
    node.add_incident(__import__("conftest").incident_record(title="A normal one"))
    odd = odd_incident(node, extension, lang=["ru"], confidence="high", description={"x": 1})
    backfill(node.store)
    app = create_app(web_home)  # start-up backfills the index
    client = app.test_client()
    assert log_in(client, *ANALYST).status_code == 302
    listing = client.get("/incidents")
    assert listing.status_code == 200 and "A normal one" in listing.text
    assert client.get(f"/incidents/{odd['id']}").status_code in (200, 404)
    data = client.get("/dashboard/data.json")
    assert data.status_code == 200
    assert sum(sum(s) for s in json.loads(data.text)["per_week"]["series"].values()) >= 1
    assert client.get("/dashboard").status_code == 200


def test_the_list_refuses_nothing_and_breaks_on_nothing_in_its_paging_cursor(web_home):
    client = create_app(web_home).test_client()
    log_in(client, *ANALYST)
    for before in ("9" * 30, "-1", "1e9", "0"):
        assert client.get(f"/incidents?before={before}").status_code == 200
