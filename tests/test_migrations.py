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
        # users: the columns 0.1.0 had (step 7 adds each account's UI language, NULL until chosen)
        return {table: rows(conn, f"SELECT {'name, role, password_hash, created' if table == 'users' else '*'}"
                                  f" FROM {table}") for table in
                ("objects", "feed_entries", "cursors", "peers", "users", "keys", "cards", "tokens", "report_refs")}
    finally:
        conn.close()


def fresh_shape(tmp_path) -> dict:
    Store(tmp_path / "fresh.db").close()
    with connect(tmp_path / "fresh.db") as conn:
        return shape(conn)


STEPS = [step.version for step in MIGRATIONS]


def steps_after(version: int) -> list[int]:
    return [v for v in STEPS if v > version]


def test_the_steps_are_numbered_one_by_one():
    assert STEPS == list(range(1, len(STEPS) + 1))
    assert SCHEMA_VERSION == MIGRATIONS[-1].version == len(STEPS)


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
    assert [r["version"] for r in node.store.query("SELECT version FROM schema_history")] == steps_after(1)
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
        [{"version": v} for v in steps_after(1)]
    store.close()
    with connect(db) as conn:
        assert shape(conn) == fresh_shape(tmp_path)
        assert {"push_cursors", "web_incidents", "web_incident_fts", "web_login_failures"} <= set(shape(conn))


def older_database(db, steps: int) -> dict:
    """A database as the first `steps` steps left it (their history rows aside); its shape."""
    with connect(db) as conn:
        for step in MIGRATIONS[:steps]:
            step.apply(sqlite_utils.Database(conn))
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", [str(MIGRATIONS[steps - 1].version)])
        return shape(conn)


def test_step_3_adds_server_side_web_sessions_to_a_schema_2_database(tmp_path):
    db = tmp_path / "v2.db"
    assert "web_sessions" not in older_database(db, 2)
    store = Store(db)
    assert store.query("SELECT version FROM schema_history ORDER BY version") == \
        [{"version": v} for v in steps_after(2)]
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


def test_step_9_signs_the_claims_of_the_incidents_indexed_before_it(kz, tmp_path):
    from node.similar_claims import Match, similar
    from web_fixtures import incident_record
    cyrillic = kz.add_incident(incident_record(claim="Алматыдағы су құбырына улы зат қосылды.")).incident_id
    latin = kz.add_incident(incident_record(claim="Almatydağy su qūbyryna uly zat qosyldy.")).incident_id
    kz.add_incident(incident_record(claim=None))
    db = kz.config.database_path
    kz.store.close()
    with connect(db) as conn:  # as a schema-6 database held it: no claim signatures
        conn.execute("DROP TABLE claim_signatures")
        conn.execute("DROP TABLE claim_bands")
        conn.execute("DELETE FROM schema_history WHERE version >= 9")
        conn.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
        n = dict(conn.execute("SELECT incident_id, n FROM web_incidents").fetchall())
    store = Store(db)
    assert store.query("SELECT version FROM schema_history WHERE version = 9") == [{"version": 9}]
    with connect(db) as conn:
        assert shape(conn) == fresh_shape(tmp_path)
    assert store.one("SELECT COUNT(*) AS n FROM claim_signatures") == {"n": 2}  # the third has no claim
    assert similar(store.conn, n[cyrillic]) == [Match(n[latin], 1.0)]
    assert similar(store.conn, n[latin]) == [Match(n[cyrillic], 1.0)]
    store.close()


def test_step_8_gives_incidents_indexed_before_it_their_search_keys(kz, tmp_path):
    from node.web.index import Filters, list_incidents
    from web_fixtures import incident_record
    latin = kz.add_incident(incident_record(title="Qazaqstan şekarasy jabylady", summary="Jalğan habar.",
                                            claim="Şekara jabylmaidy.", language="kk")).incident_id
    russian = kz.add_incident(incident_record(title="Граница закрыта", summary="Фейк.", claim="Нет.")).incident_id
    db = kz.config.database_path
    kz.store.close()
    with connect(db) as conn:  # as a schema-7 database held it: the full text without keys
        columns = "title, summary, claim, threat_actor, observables, case_id"
        conn.execute("ALTER TABLE web_incident_fts RENAME TO fts_now")
        conn.execute(migrations._INCIDENT_INDEX_DDL[-1])
        conn.execute(f"INSERT INTO web_incident_fts (rowid, {columns}) SELECT rowid, {columns} FROM fts_now")
        conn.execute("DROP TABLE fts_now")
        conn.execute("DELETE FROM schema_history WHERE version >= 8")
        conn.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
        assert "keys" not in [c[1] for c in conn.execute("PRAGMA table_xinfo('web_incident_fts')")]
    store = Store(db)
    assert store.query("SELECT version FROM schema_history WHERE version = 8") == [{"version": 8}]

    def found(text):
        return {r["incident_id"] for r in list_incidents(store, Filters(text=text))}

    assert found("шекарасы") == {latin}  # Cyrillic Kazakh finds the Latin text
    assert found("границы") == {russian}  # another form finds the word
    assert found("fakechannel") == {latin, russian}  # the observables came along, matched as typed
def test_step_7_gives_each_account_of_a_schema_6_database_a_ui_language_left_to_the_browser(kz, tmp_path):
    from node.users import add_user, set_language
    add_user(kz.store, "ana", "analyst", "a long password")
    db = kz.config.database_path
    kz.store.close()
    with connect(db) as conn:  # as a schema-6 database held it: no language column
        conn.execute("ALTER TABLE users DROP COLUMN language")
        conn.execute("DELETE FROM schema_history WHERE version >= 7")
        conn.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    store = Store(db)
    assert store.query("SELECT version FROM schema_history WHERE version = 7") == [{"version": 7}]
    assert store.query("SELECT name, language FROM users") == [{"name": "ana", "language": None}]
    assert set_language(store, "ana", "uz-Latn") == "uz_Latn"
    assert store.one("SELECT language FROM users WHERE name = 'ana'") == {"language": "uz_Latn"}
    store.close()
    with connect(db) as conn:
        assert shape(conn) == fresh_shape(tmp_path)
def test_step_11_adds_the_reaction_index_and_marks_withdrawn_and_corrected_incidents_held_before(kz, uz, tmp_path):
    from node.app import create_app
    from node.reaction_index import opinions_of
    from web_fixtures import import_from, incident_record
    gone = kz.add_incident(incident_record()).incident_id
    kz.withdraw_incident(gone, "wrong")
    fixed = kz.add_incident(incident_record()).incident_id
    kz.edit_incident(fixed, incident_record(title="Fixed"))
    theirs = uz.add_incident(incident_record()).incident_id
    import_from(kz, uz)
    kz.record_opinion(theirs, "disagree", "Authentic")
    db = kz.config.database_path
    kz.store.close()
    with connect(db) as conn:  # as a schema-10 database held it
        for table in ("web_sightings", "web_opinions"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("DELETE FROM web_incident_terms WHERE kind IN ('state', 'opinion')")
        conn.execute("DELETE FROM schema_history WHERE version >= 11")
        conn.execute("UPDATE meta SET value = '10' WHERE key = 'schema_version'")
    store = Store(db)
    assert store.query("SELECT version FROM schema_history WHERE version = 11") == [{"version": 11}]
    terms = {(r["incident_id"], r["value"]) for r in store.query(
        "SELECT i.incident_id, t.value FROM web_incident_terms t JOIN web_incidents i ON i.n = t.incident"
        " WHERE t.kind = 'state'")}
    assert {(gone, "withdrawn"), (fixed, "corrected")} <= terms
    store.close()
    app = create_app(kz.home)  # the UI's start indexes what the tables missed
    node = app.extensions["qalqan_node"]
    assert [o["opinion"] for o in opinions_of(node.store, theirs)] == ["disagree"]
    assert node.store.one("SELECT COUNT(*) AS n FROM web_incident_terms WHERE kind = 'opinion'")["n"] == 1
def test_step_10_adds_the_peer_copies_to_a_schema_6_database(tmp_path):
    db = tmp_path / "v6.db"
    assert "peer_copies" not in older_database(db, 6)
    store = Store(db)
    assert store.query("SELECT version FROM schema_history WHERE version = 10") == [{"version": 10}]
    with store.transaction():
        for _ in range(2):
            store.note_peer_copy("uz", "note--5b0c6a4e-2f1d-4c36-9d0e-8f5a1e2b3c4d", "2026-11-01T00:00:00.000Z")
    assert store.query("SELECT peer FROM peer_copies") == [{"peer": "uz"}]  # once, however often it is sent
def test_step_13_adds_the_response_index_to_a_schema_6_database_with_the_responses_held(kz, tmp_path):
    from node.response_index import responses_of
    from web_fixtures import incident_record
    incident = kz.add_incident(incident_record()).incident_id
    response = kz.add_response(incident, {"kind": "press-statement", "at": "2026-11-22",
                                          "description": "The ministry said so."}).response_id
    db = kz.config.database_path
    kz.store.close()
    with connect(db) as conn:  # as a schema-6 database held it: the response, no index
        conn.execute("DROP TABLE web_responses")
        conn.execute("DELETE FROM schema_history WHERE version >= 13")
        conn.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    store = Store(db)
    assert store.query("SELECT version FROM schema_history WHERE version = 13") == [{"version": 13}]
    assert [(r["response_id"], r["kind"]) for r in responses_of(store.conn, incident)] == [
        (response, "press-statement")]
    store.close()
    with connect(db) as conn:
        assert shape(conn) == fresh_shape(tmp_path)
