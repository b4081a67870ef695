"""Watches and alerts at one node (issue 12, point 5): what notifies whom and how often,
who may set what, the command line, and the delivery worker against real endpoints on
127.0.0.1 (aiosmtpd, an HTTP receiver checking the HMAC, apprise's json://).
tests/test_alerts_network.py runs the same through three `qalqan serve` nodes."""
from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import uuid
from contextlib import closing, contextmanager

import pytest

from node.alerts.deliver import Deliverer, smtp_password
from node.alerts.watches import Actor, add_watch, list_watches, mark_seen, remove_watch, set_muted, unseen_count
from node.errors import ConfigError, InputError
from node.home import Node
from node.ingest import PEER, Door
from node.migrations import MIGRATIONS
from node.signing import sign
from node.store import Store
from node.users import add_user
from node.wellknown import TLP_MARKINGS

from alert_fixtures import Receiver, SmtpSink, fast_alerts, wait_for
from conftest import incident_record
from nodes import edit_config, introduce

PASSWORD = "a long enough password"


@pytest.fixture
def kz(make_home):
    node = Node(make_home("kz", "KZ"))
    add_user(node.store, "ana", "analyst", PASSWORD)
    add_user(node.store, "root", "admin", PASSWORD)
    return node


def watch(node: Node, name: str, user: str = "ana", **filters):
    channels = {k: filters.pop(k) for k in ("emails", "webhooks", "apprise_urls") if k in filters}
    return add_watch(node.store, node.home, node.disarm, name, user, filters, **channels)


def notified(node: Node) -> list[tuple[str, str, str]]:
    """(watch, event, incident) of every notification, in order."""
    return [(r["name"], r["event"], r["incident_id"]) for r in node.store.query(
        "SELECT w.name, n.event, n.incident_id FROM notifications n JOIN watches w ON w.id = n.watch ORDER BY n.id")]


# -- what notifies ------------------------------------------------------------------------

def test_a_partners_incident_notifies_each_matching_watch_once_however_its_objects_are_batched(kz, make_home):
    uz = Node(make_home("uz", "UZ", port=8002))
    add_user(uz.store, "ana", "analyst", PASSWORD)
    introduce(uz.home, kz.home)
    incident = kz.add_incident(incident_record(tlp="green")).incident_id
    watch(uz, "by-account", observable="@fakechannel")
    watch(uz, "by-url-and-words", observable="https://t.me/fakechannel/123", text="border closes")
    watch(uz, "by-terms", target_country="uz", technique="T0023", verdict="fabricated", platform="Telegram")
    watch(uz, "other-country", target_country="AZ")
    watch(uz, "other-account", observable="@someone_else")
    objects = [json.loads(r["json"]) for r in kz.store.query("SELECT json FROM objects WHERE origin = 'own'")]
    # the incident first, its report later, the observables last: three batches of the ingest
    order = {"identity": 0, "incident": 1, "report": 3}
    objects.sort(key=lambda o: order.get(o["type"], 2 if not o["type"] in ("url", "user-account", "file",
                                                                           "domain-name") else 4))
    uz.ingest.run(objects, Door(PEER, source="kz"), batch=3)
    uz.ingest.run(objects, Door(PEER, source="kz"), batch=500)  # the same again: duplicates, no event
    assert sorted(notified(uz)) == [("by-account", "new", incident), ("by-terms", "new", incident),
                                    ("by-url-and-words", "new", incident)]


def test_an_account_watch_finds_the_login_on_a_platform_no_incident_lists(kz):
    watch(kz, "vk-account", observable="vk_only")  # as typed without the @
    incident = kz.add_incident(incident_record(platforms=["youtube"],
                                               accounts=[{"platform": "vk", "login": "@vk_only"}])).incident_id
    kz.add_incident(incident_record(accounts=[{"platform": "vk", "login": "@vk_only_not"}]))
    assert notified(kz) == [("vk-account", "new", incident)]


def test_a_correction_notifies_the_watches_the_incident_matched_before_or_after_it_and_a_withdrawal_once(kz):
    watch(kz, "fabricated", verdict="fabricated")
    watch(kz, "satire", verdict="satire")
    watch(kz, "unrelated", target_country="TR")
    incident = kz.add_incident(incident_record()).incident_id
    kz.edit_incident(incident, incident_record(verdict="satire"))
    kz.edit_incident(incident, incident_record(verdict="satire", title="A second correction"))
    kz.withdraw_incident(incident, "The video is authentic.")
    assert notified(kz)[:1] == [("fabricated", "new", incident)]
    events = notified(kz)[1:]
    assert events.count(("fabricated", "corrected", incident)) == 1  # it matched before the first correction
    assert events.count(("satire", "corrected", incident)) == 2  # after each
    assert events[-1:] == [("satire", "withdrawn", incident)]
    assert not [e for e in events if e[0] == "unrelated"]
    assert len(events) == 4


def sighting_of(incident_id: str, by: Node) -> dict:
    return sign({"type": "sighting", "spec_version": "2.1", "id": f"sighting--{uuid.uuid4()}",
                 "created": "2026-11-21T09:00:00.000Z", "modified": "2026-11-21T09:00:00.000Z",
                 "created_by_ref": by.config.identity, "sighting_of_ref": incident_id, "count": 4,
                 "first_seen": "2026-11-21T08:00:00Z", "last_seen": "2026-11-21T09:00:00Z",
                 "where_sighted_refs": [by.config.identity], "object_marking_refs": [TLP_MARKINGS["green"]]},
                by.signing_key)


def test_a_sighting_of_a_watched_incident_notifies_once_and_names_who_saw_it(kz, make_home):
    uz = Node(make_home("uz", "UZ", port=8002))
    introduce(kz.home, uz.home)
    incident = kz.add_incident(incident_record()).incident_id
    watch(kz, "ours", target_country="KZ")
    sighting = sighting_of(incident, uz)
    for _ in range(2):
        summary = kz.ingest.run([sighting], Door(PEER, source="uz"))
    assert summary.counts["duplicate"] == 1
    assert notified(kz) == [("ours", "sighting", incident)]
    from node.alerts.messages import body, load_alert
    kz.store.conn.execute("INSERT INTO alert_deliveries (notification, channel, target, next_at)"
                          " VALUES (1, 'email', 'x@example.org', 0)")
    text = body(load_alert(kz.store, 1, "kz", "https://qalqan.example.kz"))
    assert "was sighted by uz (UZ)" in text and f"https://qalqan.example.kz/incidents/{incident}" in text


def test_a_muted_watch_hears_nothing_and_a_watch_hears_only_of_events_after_it_was_made(kz):
    watch(kz, "muted", verdict="fabricated")
    set_muted(kz.store, "muted", True)
    incident = kz.add_incident(incident_record()).incident_id
    watch(kz, "later", verdict="fabricated")
    assert notified(kz) == []
    set_muted(kz.store, "muted", False)
    kz.edit_incident(incident, incident_record(title="Corrected title"))
    assert sorted(e[:2] for e in notified(kz)) == [("later", "corrected"), ("muted", "corrected")]


def test_notifications_count_as_unseen_until_marked_and_go_with_their_watch(kz):
    watch(kz, "mine", verdict="fabricated")
    watch(kz, "roots", user="root", verdict="fabricated")
    for _ in range(3):
        kz.add_incident(incident_record())
    assert unseen_count(kz.store, "ana") == 3 and unseen_count(kz.store, "root") == 3
    first = kz.store.one("SELECT id FROM notifications WHERE user = 'ana' ORDER BY id")["id"]
    assert mark_seen(kz.store, "root", first) == 0  # not root's
    assert mark_seen(kz.store, "ana", first) == 1 and unseen_count(kz.store, "ana") == 2
    assert mark_seen(kz.store, "ana") == 2 and unseen_count(kz.store, "ana") == 0
    remove_watch(kz.store, "roots")
    assert unseen_count(kz.store, "root") == 0
    from node.users import remove_user
    remove_user(kz.store, "ana")
    assert list_watches(kz.store) == []


def test_a_failure_of_the_alerts_costs_the_node_neither_the_incident_nor_its_index(kz, monkeypatch, caplog):
    watch(kz, "any", verdict="fabricated")

    def broken(*args):
        raise RuntimeError("a bug in matching")
    monkeypatch.setattr("node.alerts.events.matching_rows", broken)
    incident = kz.add_incident(incident_record()).incident_id
    assert kz.store.object_json(incident) is not None
    assert kz.store.one("SELECT COUNT(*) AS n FROM web_incidents WHERE incident_id = ?", [incident])["n"] == 1
    assert notified(kz) == [] and "alerts: the notifications of a batch could not be written" in caplog.text


# -- who may set what; bad input -----------------------------------------------------------

def test_an_analyst_keeps_own_watches_with_email_and_only_an_admin_sets_webhooks_or_apprise(kz):
    ana, root = Actor("ana", "analyst"), Actor("root", "admin")
    add = lambda name, user, actor, **kw: add_watch(kz.store, kz.home, kz.disarm, name, user, {}, actor=actor, **kw)  # noqa: E731
    add("mine", "ana", ana, emails=["ana@example.org"])
    with pytest.raises(InputError, match="^webhook: only an admin"):
        add("hook", "ana", ana, webhooks=["http://127.0.0.1:9/hook"])
    with pytest.raises(InputError, match="^apprise: only an admin"):
        add("tg", "ana", ana, apprise_urls=["tgram://123456789:abcdefghijklmnopqrstuvwxyzABCDEFGHI/12345"])
    with pytest.raises(InputError, match="^user: an analyst keeps watches for their own account only"):
        add("theirs", "root", ana)
    added = add("hook", "ana", root, webhooks=["http://127.0.0.1:9/hook"],
                apprise_urls=["tgram://123456789:abcdefghijklmnopqrstuvwxyzABCDEFGHI/12345"])
    assert list(added.secrets) == ["http://127.0.0.1:9/hook"] and added.secrets["http://127.0.0.1:9/hook"].startswith("qwh_")
    with pytest.raises(InputError, match="^NAME: no watch named 'hook' of yours"):
        set_muted(kz.store, "hook", True, Actor("bob", "analyst"))
    set_muted(kz.store, "hook", True, ana)
    assert [r["watch"].name for r in list_watches(kz.store, "ana")] == ["hook", "mine"]


@pytest.mark.parametrize("args, message", [
    (["--target-country", "Kazakhstan"], "target_country: 'KAZAKHSTAN' is not an ISO 3166-1 alpha-2 code such as KZ"),
    (["--technique", "T9999"], "technique: 'T9999' is not a DISARM technique id such as T0023"),
    (["--verdict", "fake"], "verdict: must be one of "),
    (["--text", "!?"], "text: give at least one word of letters or digits"),
    (["--observable", "two words"], "observable: 'two words' is not a URL or an account login (no spaces)"),
    (["--email", "nobody"], "email: 'nobody' is not an e-mail address"),
    (["--webhook", "ftp://127.0.0.1/x"], "webhook: 'ftp://127.0.0.1/x' is not an http(s) URL"),
    (["--apprise", "nonsense://x"], "apprise: nonsense://… is not a URL apprise can send to"),
])
def test_bad_watch_input_is_one_sentence_naming_the_field_and_nothing_is_stored(kz, qalqan, args, message):
    out = qalqan("watch", "add", "w", "--user", "ana", *args, home=kz.home)
    assert out.returncode == 2 and out.stderr.startswith(f"qalqan: {message}") and out.stderr.count("\n") == 1
    assert qalqan("watch", "list", home=kz.home).stdout == "no watches\n"


def test_the_command_line_adds_lists_mutes_and_removes_watches_and_prints_a_webhook_secret_once(kz, qalqan):
    out = qalqan("watch", "add", "uz-fab", "--user", "ana", "--target-country", "uz", "--verdict", "fabricated",
                 "--email", "ana@example.org", "--webhook", "http://127.0.0.1:9/hook?token=abc",
                 "--apprise", "tgram://123456789:abcdefghijklmnopqrstuvwxyzABCDEFGHI/12345", home=kz.home)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "watch uz-fab of ana: target_country=UZ, verdict=fabricated"
    assert lines[1].startswith("webhook http://127.0.0.1:9/hook?… secret (shown once): qwh_")
    assert qalqan("watch", "add", "uz-fab", "--user", "ana", home=kz.home).stderr == \
        "qalqan: NAME: a watch named 'uz-fab' exists\n"
    assert qalqan("watch", "add", "x", "--user", "nobody", home=kz.home).stderr.startswith(
        "qalqan: user: no web account named 'nobody'")
    assert qalqan("watch", "mute", "uz-fab", home=kz.home).stdout == "watch uz-fab muted\n"
    listed = qalqan("watch", "list", home=kz.home).stdout
    assert listed.startswith("uz-fab (ana) muted: target_country=UZ, verdict=fabricated; to email ana@example.org, "
                             "webhook http://127.0.0.1:9/hook?…, apprise tgram://…;")
    assert "abcdefghijkl" not in listed and "token=abc" not in listed
    assert json.loads(qalqan("watch", "list", "--json", home=kz.home).stdout)[0]["muted"] is True
    assert qalqan("watch", "unmute", "uz-fab", home=kz.home).returncode == 0
    assert qalqan("watch", "remove", "uz-fab", home=kz.home).stdout == "watch uz-fab removed\n"
    assert qalqan("watch", "remove", "uz-fab", home=kz.home).returncode == 2


# -- delivery ------------------------------------------------------------------------------

@contextmanager
def delivering(node: Node):
    """The worker `qalqan serve` runs, on this node, in a thread."""
    stop = threading.Event()
    worker = Deliverer(Node(node.home))
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(15)


def deliveries(node: Node) -> list[dict]:
    return node.store.query("SELECT channel, state, attempts, last_error FROM alert_deliveries ORDER BY id")


def test_the_worker_sends_one_email_one_signed_webhook_and_one_apprise_message_per_notification(kz):
    with SmtpSink() as smtp:
        hook, apprise_sink = Receiver().start(), Receiver().start()
        for key, value in fast_alerts(smtp.port).items():
            edit_config(kz.home, f"alerts.{key}", value)
        kz = Node(kz.home)
        added = watch(kz, "uz-fab", target_country="UZ", emails=["ana@example.org"], webhooks=[hook.url],
                      apprise_urls=[f"json://127.0.0.1:{apprise_sink.port}/apprise"])
        hook.secret = added.secrets[hook.url]
        incident = kz.add_incident(incident_record(title="Border «closure» hoax")).incident_id
        kz.add_incident(incident_record(target_countries=["TR"]))  # no match: nothing sent
        with delivering(kz):
            wait_for(lambda: len(smtp.messages) and hook.calls and apprise_sink.calls, what="three deliveries")
            wait_for(lambda: all(d["state"] == "sent" for d in deliveries(kz)), what="the rows marked sent")
    hook.stop()
    apprise_sink.stop()
    assert (len(smtp.messages), len(hook.calls), len(apprise_sink.calls)) == (1, 1, 1)
    mail = smtp.messages[0]
    assert mail["To"] == "ana@example.org" and mail["From"] == "alerts@uz.example"
    assert mail["Subject"] == "New incident: Border «closure» hoax [watch uz-fab]"
    text = mail.get_content()
    assert f"http://127.0.0.1:8001/incidents/{incident}" in text and "Verdict: fabricated" in text
    call = hook.calls[0]
    assert call["valid"] and call["headers"]["X-Qalqan-Event"] == "new"
    sent = json.loads(call["body"])
    assert sent["event"] == "new" and sent["watch"] == "uz-fab" and sent["user"] == "ana"
    assert sent["incident"] == {"id": incident, "url": f"http://127.0.0.1:8001/incidents/{incident}", "tlp": "green",
                                "title": "Border «closure» hoax", "verdict": "fabricated", "source": "kz (KZ)"}
    assert call["headers"]["X-Qalqan-Delivery"] == str(sent["delivery"])
    message = apprise_sink.json_bodies()[0]
    assert message["title"].startswith("New incident: Border «closure» hoax") and incident in message["message"]
    assert [d["attempts"] for d in deliveries(kz)] == [1, 1, 1]


def test_a_red_incidents_alert_carries_the_event_and_the_link_only(kz):
    with SmtpSink() as smtp:
        hook = Receiver().start()
        for key, value in fast_alerts(smtp.port).items():
            edit_config(kz.home, f"alerts.{key}", value)
        kz = Node(kz.home)
        hook.secret = watch(kz, "all", emails=["ana@example.org"], webhooks=[hook.url]).secrets[hook.url]
        incident = kz.add_incident(incident_record(tlp="red", title="Secret title")).incident_id
        with delivering(kz):
            wait_for(lambda: smtp.messages and hook.calls, what="both deliveries")
    hook.stop()
    mail = smtp.messages[0]
    assert "Secret title" not in mail["Subject"] + mail.get_content() and "TLP:RED" in mail["Subject"]
    assert incident in mail.get_content()
    assert json.loads(hook.calls[0]["body"])["incident"] == {
        "id": incident, "url": f"http://127.0.0.1:8001/incidents/{incident}", "tlp": "red"}


def test_a_receiver_that_is_down_gets_the_alert_once_when_up_and_a_silent_one_stalls_no_other(kz, caplog):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    late, prompt = Receiver(), Receiver().start()
    for key, value in fast_alerts().items():
        edit_config(kz.home, f"alerts.{key}", value)
    edit_config(kz.home, "alerts.timeout", 5)
    kz = Node(kz.home)
    silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
    watch(kz, "silent", webhooks=[silent_url])
    late.secret = watch(kz, "late", webhooks=[late.url]).secrets[late.url]
    prompt.secret = watch(kz, "prompt", webhooks=[prompt.url]).secrets[prompt.url]
    kz.add_incident(incident_record())
    caplog.set_level(logging.INFO, logger="node.alerts.deliver")
    with delivering(kz):
        wait_for(lambda: prompt.calls, timeout=3, what="the prompt receiver, while the silent one hangs")
        wait_for(lambda: kz.store.one("SELECT attempts FROM alert_deliveries d JOIN notifications n"
                                      " ON n.id = d.notification JOIN watches w ON w.id = n.watch"
                                      " WHERE w.name = 'late'")["attempts"] >= 2, what="two failed tries")
        late.start()
        wait_for(lambda: late.calls, what="the late receiver's call")
        wait_for(lambda: kz.store.one("SELECT COUNT(*) AS n FROM alert_deliveries WHERE state = 'sent'")["n"] == 2,
                 what="both marked sent")
    late.stop()
    prompt.stop()
    silent.close()
    assert len(late.calls) == 1 and late.calls[0]["valid"] and len(prompt.calls) == 1
    rows = {r["target"]: r for r in kz.store.query("SELECT * FROM alert_deliveries")}
    assert rows[late.url]["attempts"] >= 3 and rows[late.url]["state"] == "sent"
    assert rows[silent_url]["state"] == "pending" and "did not answer" in (rows[silent_url]["last_error"] or "")
    secrets = [json.loads(r["webhooks"])[0]["salt"] for r in kz.store.query("SELECT webhooks FROM watches")]
    assert not any(s in caplog.text for s in secrets) and late.secret not in caplog.text


def test_a_restart_resumes_the_outbox_and_a_delivery_is_given_up_after_its_last_try(kz):
    hook = Receiver()
    for key, value in fast_alerts().items():
        edit_config(kz.home, f"alerts.{key}", value)
    edit_config(kz.home, "alerts.max_attempts", 3)
    kz = Node(kz.home)
    hook.secret = watch(kz, "hook", webhooks=[hook.url]).secrets[hook.url]
    watch(kz, "mail", emails=["ana@example.org"])  # alerts.smtp.host is not set
    kz.add_incident(incident_record())
    with delivering(kz):
        wait_for(lambda: deliveries(kz)[0]["attempts"] >= 1, what="a first failed try")
    hook.start()
    with delivering(kz):  # as after a restart of `qalqan serve`
        wait_for(lambda: hook.calls, what="the webhook call")
        wait_for(lambda: deliveries(kz)[1]["state"] == "failed", what="the e-mail given up")
    hook.stop()
    assert len(hook.calls) == 1 and hook.calls[0]["valid"]
    mail = deliveries(kz)[1]
    assert mail["attempts"] == 3 and mail["last_error"] == "alerts.smtp.host is not set, so no e-mail can be sent"
    row = next(r for r in list_watches(kz.store) if r["watch"].name == "mail")
    assert (row["notified"], row["pending"], row["failed"]) == (1, 0, 1)


def test_the_smtp_password_comes_from_an_environment_variable_or_a_private_file(kz, monkeypatch):
    edit_config(kz.home, "alerts.smtp.user", "qalqan")
    edit_config(kz.home, "alerts.smtp.password_file", "keys/smtp.password")
    path = kz.home / "keys" / "smtp.password"
    path.write_text("s3cret-pass\n")
    os.chmod(path, 0o644)
    config = Node(kz.home).config
    with pytest.raises(ConfigError, match="may be read by others; chmod 600 it"):
        smtp_password(kz.home, config)
    os.chmod(path, 0o600)
    assert smtp_password(kz.home, config) == "s3cret-pass"
    edit_config(kz.home, "alerts.smtp.password_env", "QALQAN_TEST_SMTP")
    config = Node(kz.home).config
    with pytest.raises(ConfigError, match="QALQAN_TEST_SMTP is not set"):
        smtp_password(kz.home, config)
    monkeypatch.setenv("QALQAN_TEST_SMTP", "from-the-environment")
    assert smtp_password(kz.home, config) == "from-the-environment"


# -- the schema ------------------------------------------------------------------------------

def test_step_12_adds_the_watch_tables_to_an_older_database(tmp_path):
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as conn:
        import sqlite_utils
        db = sqlite_utils.Database(conn)
        for step in MIGRATIONS:
            if step.version < 12:
                step.apply(db)
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '11')")
        conn.commit()
    store = Store(path)
    assert store.one("SELECT value FROM meta WHERE key = 'schema_version'")["value"] == str(MIGRATIONS[-1].version)
    tables = {r["name"] for r in store.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"watches", "notifications", "alert_deliveries"} <= tables
    store.close()


def test_the_email_is_written_in_the_ui_language_of_the_watchs_account(kz):
    from node.i18n import catalogue
    ru = catalogue("ru")
    assert ru.gettext("New incident") != "New incident", "the Russian catalogue is compiled (scripts/setup.sh)"
    kz.store.conn.execute("UPDATE users SET language = 'ru' WHERE name = 'ana'")
    with SmtpSink() as smtp:
        for key, value in fast_alerts(smtp.port).items():
            edit_config(kz.home, f"alerts.{key}", value)
        kz = Node(kz.home)
        watch(kz, "uz-fab", target_country="UZ", emails=["ana@example.org"])
        kz.add_incident(incident_record(title="Граница закрывается"))
        with delivering(kz):
            wait_for(lambda: len(smtp.messages), what="the e-mail")
    mail = smtp.messages[0]
    assert mail["Subject"] == f"{ru.gettext('New incident')}: Граница закрывается [{ru.gettext('watch %(name)s') % {'name': 'uz-fab'}}]"
    text = mail.get_content()
    assert ru.gettext("A new incident matches your watch “%(watch)s”.") % {"watch": "uz-fab"} in text
    assert "Граница закрывается" in text  # the incident's own words, untranslated
