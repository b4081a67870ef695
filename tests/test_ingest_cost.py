"""Ingest cost grows with what arrives, not with its square: a report with many
observables refreshes its incident's index row once per batch, not once per observable."""
import uuid

from node import incident_index
from node.ingest import PEER, Door
from node.sco import deterministic_id
from node.signing import sign
from node.wellknown import TLP_MARKINGS
from conftest import set_feed

STAMP = "2026-01-01T00:00:00.000Z"


def _post(uz, observables: int) -> list[dict]:
    common = {"spec_version": "2.1", "created": STAMP, "modified": STAMP, "created_by_ref": uz.config.identity,
              "object_marking_refs": [TLP_MARKINGS["green"]]}
    incident = sign({"type": "incident", "id": f"incident--{uuid.uuid4()}", "name": "Many links", **common},
                    uz.signing_key)
    urls = []
    for i in range(observables):
        url = {"type": "url", "spec_version": "2.1", "value": f"https://example.org/{observables}/{i}"}
        urls.append({**url, "id": deterministic_id({**url, "id": ""})})
    report = sign({"type": "report", "id": f"report--{uuid.uuid4()}", "name": "Many links", "published": STAMP,
                   "report_types": ["threat-report"], "object_refs": [incident["id"], *(u["id"] for u in urls)],
                   **common}, uz.signing_key)
    return [incident, report, *urls]  # the report first: each observable then belongs to an indexed incident


def test_index_work_for_one_post_is_linear_in_its_observables(kz, uz, monkeypatch):
    kz.trust_card(uz.card())
    set_feed(kz.home, "regional", writers=["uz"], readers=["uz"])
    loaded = []
    original = incident_index._neighbours

    def counting(store, report_id):
        rows = original(store, report_id)
        loaded.append(len(rows))
        return rows

    monkeypatch.setattr(incident_index, "_neighbours", counting)
    for n in (300, 600):
        loaded.clear()
        summary = kz.ingest.run(_post(uz, n), Door(PEER, source="uz"), batch=5000)
        assert summary.counts["accepted"] == n + 2
        assert sum(loaded) <= 2 * n, f"{sum(loaded)} neighbour rows read for {n} observables"
    assert kz.store.one("SELECT COUNT(*) AS n FROM web_incidents")["n"] == 2


def test_a_writer_that_waits_too_long_for_the_database_gets_one_sentence(kz):
    import sqlite3

    import pytest

    from node.errors import StoreBusy
    from node.store import Store
    holder = sqlite3.connect(kz.store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreBusy, match=r"^the database is busy: another writer held it for more than 0.2 s"):
            with Store(kz.store.path, busy_timeout=0.2).transaction() as db:
                db.execute("DELETE FROM audit")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
