"""Schema migrations (node/migrations.py): each step from the schema before it, a home
written by release 0.1.0 (tests/assets/release-0.1.0-home, made by commit b482719:
two incidents of its own, one pulled from a partner, sync cursors, an admin account)
upgraded in place, and a database newer than the code refused."""
from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
from html import unescape

import pytest
import requests
import sqlite_utils

from node import migrations
from node.app import create_app
from node.home import Node
from node.migrations import MIGRATIONS, SCHEMA_VERSION
from node.store import Store
from node.wellknown import TLP_MARKINGS

from conftest import ASSETS, run_qalqan
from nodes import running_node
from web_fixtures import log_in

OLD_HOME = ASSETS / "release-0.1.0-home"
OLD_ADMIN = ("admin", "old-release-admin-pw")
OLD_INCIDENTS = ["Old release incident from UZ", "Old release incident one", "Old release incident two (amber)"]
# Tables release 0.1.0 made only when a feature first ran; the kept database has some of them.
LAZY = re.compile(r"^(push_cursors|web_incident.*|web_login_failures.*)$")


@pytest.fixture
def old_home(tmp_path):
    home = tmp_path / "kz"
    shutil.copytree(OLD_HOME, home)
    os.chmod(home / "keys" / "node.key", 0o600)  # git keeps no modes; a node key is 0600
    return home


def connect(path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def shape(conn: sqlite3.Connection, keep=lambda name: True) -> dict:
    """Tables → their columns and indexes, as SQLite describes them (not the DDL's spelling)."""
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    result = {}
    for table in filter(keep, tables):
        columns = conn.execute(f"PRAGMA table_xinfo('{table}')").fetchall()
        indexes = sorted((i[1], i[2], tuple(c[2] for c in conn.execute(f"PRAGMA index_info('{i[1]}')")))
                         for i in conn.execute(f"PRAGMA index_list('{table}')"))
        result[table] = (columns, indexes)
    return result


def rows(conn: sqlite3.Connection, sql: str) -> list[tuple]:
    return sorted(conn.execute(sql).fetchall())


def version(path) -> int:
    with connect(path) as conn:
        return migrations.schema_version(conn)


def data(path) -> dict:
    conn = connect(path)
    try:
        return {table: rows(conn, f"SELECT * FROM {table}") for table in
                ("objects", "feed_entries", "cursors", "peers", "users", "keys", "cards", "tokens", "report_refs")}
    finally:
        conn.close()


def fresh_shape(tmp_path) -> dict:
    Store(tmp_path / "fresh.db").close()
    with connect(tmp_path / "fresh.db") as conn:
        return shape(conn)


STEPS = [step.version for step in MIGRATIONS]  # every step, in order


def test_the_steps_are_numbered_one_by_one():
    assert [step.version for step in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert SCHEMA_VERSION == MIGRATIONS[-1].version == 6


def test_a_home_written_by_release_0_1_0_is_upgraded_in_place_and_keeps_everything(old_home):
    db = old_home / "data" / "qalqan.db"
    assert version(db) == 1
    before = data(db)
    assert len(before["cursors"]) == 2 and len(before["users"]) == 1

    node = Node(old_home)
    assert version(db) == SCHEMA_VERSION
    after = data(db)
    # step 5 withdraws unreferenced marking-definitions from feeds (its own test below)
    assert {**after, "feed_entries": without_markings(after)} == {**before, "feed_entries": without_markings(before)}
    assert [r["version"] for r in node.store.query("SELECT version FROM schema_history")] == STEPS[1:]
    assert node.store.one("SELECT COUNT(*) AS n FROM objects WHERE type = 'incident' AND latest = 1")["n"] == 3
    with connect(db) as conn:
        assert shape(conn) == fresh_shape(old_home.parent)


def test_the_upgraded_node_lists_its_incidents_in_the_ui_and_serves_taxii(old_home):
    client = create_app(old_home).test_client()
    assert log_in(client, *OLD_ADMIN).status_code == 302
    html = client.get("/incidents").text
    titles = re.findall(r'<a class="title" href="[^"]+">([^<]*)</a>', html)
    assert sorted(map(unescape, titles)) == OLD_INCIDENTS
    with running_node(old_home) as base:
        assert requests.get(base + "/taxii2/", headers={"Accept": "application/taxii+json;version=2.1"},
                            timeout=10).status_code == 200
    status = run_qalqan("status", home=old_home)
    assert status.returncode == 0 and "incident 3" in status.stdout, status.stderr


def test_step_1_makes_the_tables_release_0_1_0_made_on_opening(tmp_path):
    with connect(tmp_path / "new.db") as conn:
        MIGRATIONS[0].apply(sqlite_utils.Database(conn))
        made = shape(conn)
    kept = sqlite3.connect(f"file:{OLD_HOME / 'data' / 'qalqan.db'}?immutable=1", uri=True)  # never touch the asset
    released = shape(kept, keep=lambda name: not LAZY.match(name))
    kept.close()
    assert made == released


def test_step_2_adds_the_lazily_made_tables_and_the_history_to_a_schema_1_database(tmp_path):
    db = tmp_path / "v1.db"
    with connect(db) as conn:
        MIGRATIONS[0].apply(sqlite_utils.Database(conn))
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
        assert not any(LAZY.match(name) for name in shape(conn))
    store = Store(db)
    assert migrations.schema_version(store.conn) == SCHEMA_VERSION
    assert store.query("SELECT version FROM schema_history ORDER BY version") == \
        [{"version": v} for v in STEPS[1:]]
    store.close()
    with connect(db) as conn:
        assert shape(conn) == fresh_shape(tmp_path)
        assert {"push_cursors", "web_incidents", "web_incident_fts", "web_login_failures"} <= set(shape(conn))


def test_step_3_adds_server_side_web_sessions_to_a_schema_2_database(tmp_path):
    db = tmp_path / "v2.db"
    with connect(db) as conn:
        for step in MIGRATIONS[:2]:
            step.apply(sqlite_utils.Database(conn))
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '2')")
        assert "web_sessions" not in shape(conn)
    store = Store(db)
    assert store.query("SELECT version FROM schema_history ORDER BY version") == [{"version": v} for v in STEPS[2:]]
    store.close()
    with connect(db) as conn:
        assert shape(conn) == fresh_shape(tmp_path)
        assert "web_sessions" in shape(conn)


def without_markings(snapshot: dict) -> list[tuple]:
    return [row for row in snapshot["feed_entries"] if row[5] != "marking-definition"]


def test_step_5_leaves_in_each_feed_only_the_marking_definitions_its_objects_reference(old_home):
    db = old_home / "data" / "qalqan.db"
    live = "SELECT feed, id FROM feed_entries WHERE type = 'marking-definition' AND deleted = 0"
    with connect(db) as conn:
        assert len({r[1] for r in rows(conn, live)}) == 5  # 0.1.0 put every TLP marking in every feed
    node = Node(old_home)
    carried = {(r["feed"], r["id"]) for r in node.store.query(live)}
    referenced = {(r["feed"], ref) for r in node.store.query(
        "SELECT e.feed, o.json FROM feed_entries e JOIN objects o ON o.id = e.id AND o.version = e.version"
        " WHERE e.deleted = 0 AND e.type != 'marking-definition'")
        for ref in json.loads(r["json"]).get("object_marking_refs", [])}
    assert carried == referenced and carried
    assert not {TLP_MARKINGS["red"], TLP_MARKINGS["amber+strict"]} & {m for _, m in carried}


def test_a_new_database_runs_every_step_and_records_them(tmp_path):
    store = Store(tmp_path / "new.db")
    assert migrations.schema_version(store.conn) == SCHEMA_VERSION
    history = store.query("SELECT version FROM schema_history ORDER BY version")
    assert [r["version"] for r in history] == STEPS
    store.close()
    assert Store(tmp_path / "new.db").query("SELECT COUNT(*) AS n FROM schema_history") == [{"n": len(STEPS)}]


def test_a_step_that_fails_leaves_the_database_as_it_was(old_home, monkeypatch):
    db = old_home / "data" / "qalqan.db"

    def broken(database):
        database.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("step 3 broke")

    monkeypatch.setattr(migrations, "MIGRATIONS", (*MIGRATIONS[:2], migrations.Migration(3, "broken", broken)))
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", 3)
    with pytest.raises(RuntimeError, match="step 3 broke"):
        Store(db)
    assert version(db) == 1
    with connect(db) as conn:
        assert not {"half_done", "web_login_failures", "schema_history"} & set(shape(conn))


def test_a_database_newer_than_the_code_is_refused_in_one_sentence_and_left_alone(old_home):
    db = old_home / "data" / "qalqan.db"
    with connect(db) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
        before = shape(conn)
    out = run_qalqan("status", home=old_home)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1
    assert f"schema version {SCHEMA_VERSION + 1}, newer than" in out.stderr and str(db) in out.stderr
    assert version(db) == SCHEMA_VERSION + 1
    with connect(db) as conn:
        assert shape(conn) == before


def test_step_4_marks_the_public_debunks_indexed_before_it(kz):
    from node.incident_index import PUBLIC_TERM
    from web_fixtures import incident_record
    public = kz.add_incident(incident_record(tlp="clear")).incident_id
    kz.add_incident(incident_record(tlp="clear", verdict="unverified"))
    kz.add_incident(incident_record(tlp="green"))
    term = "SELECT i.incident_id FROM web_incident_terms t JOIN web_incidents i ON i.n = t.incident" \
           " WHERE t.kind = ? AND t.value = ?"
    assert [r["incident_id"] for r in kz.store.query(term, list(PUBLIC_TERM))] == [public]
    db = kz.config.database_path
    kz.store.close()
    with connect(db) as conn:  # as a schema-3 database held it: no public terms yet
        conn.execute("DELETE FROM web_incident_terms WHERE kind = ?", [PUBLIC_TERM[0]])
        conn.execute("DELETE FROM schema_history WHERE version >= 4")
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    store = Store(db)
    assert [r["incident_id"] for r in store.query(term, list(PUBLIC_TERM))] == [public]
    assert store.query("SELECT version FROM schema_history WHERE version = 4") == [{"version": 4}]
    store.close()


MISP_INDEX = ("misp_events", "misp_index_state", "misp_withdrawals")


def test_step_6_adds_the_misp_index_to_a_schema_5_database_and_queues_withdrawals(kz, tmp_path):
    from node.misp.index import fresh, manifest_chunks, refresh
    from node.taxii.queries import remove_entries
    from web_fixtures import incident_record
    kept = kz.add_incident(incident_record(tlp="clear")).report_id
    gone = kz.add_incident(incident_record(tlp="clear")).report_id
    db = kz.config.database_path
    kz.store.close()
    with connect(db) as conn:  # as a schema-5 database held it: no MISP index
        conn.execute("DROP TRIGGER misp_withdrawal")
        for table in MISP_INDEX:
            conn.execute(f"DROP TABLE {table}")
        conn.execute("DELETE FROM schema_history WHERE version >= 6")
        conn.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
        assert not set(MISP_INDEX) & set(shape(conn))
    store = Store(db)
    assert store.query("SELECT version FROM schema_history WHERE version = 6") == [{"version": 6}]
    with connect(db) as conn:
        assert shape(conn) == fresh_shape(tmp_path)
    feed = kz.config.feeds["public"]
    assert refresh(store, feed) == 2  # the first refresh builds every event once
    assert "".join(manifest_chunks(store, feed)) == fresh(store, feed)[0]
    entries = store.query("SELECT seq, version FROM feed_entries WHERE feed = ? AND id = ?", [feed.id, gone])
    remove_entries(store, feed, gone, entries)
    assert store.query("SELECT feed, id FROM misp_withdrawals") == [{"feed": feed.id, "id": gone}]
    assert refresh(store, feed) == 1  # only the withdrawn report's event
    served = "".join(manifest_chunks(store, feed))
    assert kept.split("--", 1)[1] in served and gone.split("--", 1)[1] not in served
    assert store.query("SELECT COUNT(*) AS n FROM misp_withdrawals") == [{"n": 0}]
    store.close()
