"""Alerts across three real `qalqan serve` nodes on loopback (issue 12, point 5).

KZ and UZ are bilateral partners, UZ relays green incidents to AZ. A watch at UZ (and
one at AZ) e-mails a real SMTP server (aiosmtpd) and calls a webhook receiver that
checks the HMAC. Incidents recorded at KZ reach UZ by push and again by pull, and AZ
through UZ's relay: every matching incident, correction and withdrawal is one e-mail
and one webhook call, whatever number of objects, batches and doors carry it."""
import time

import pytest
import yaml

from node.users import add_user

from alert_fixtures import Receiver, SmtpSink, fast_alerts, wait_for
from conftest import incident_record
from sync_fixtures import Network, run, set_setting


@pytest.fixture
def smtp():
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def net(tmp_path, smtp):
    net = Network(tmp_path, {"kz": "KZ", "uz": "UZ", "az": "AZ"})
    net.link("kz", "uz", ["bilateral", "regional"])
    net.link("uz", "az", ["regional"])
    net.pin("az", "kz")
    for name in ("uz", "az"):
        for key, value in fast_alerts(smtp.port).items():
            set_setting(net[name].home, f"alerts.{key}", value)
        set_setting(net[name].home, "sync.interval", 2)  # pulls bring every object a second time
        add_user(net[name].node().store, "ana", "analyst", "a long enough password")
    yield net
    net.stop()


def to(smtp, address: str) -> list:
    return [m for m in smtp.messages if m["To"] == address]


def subject(mail) -> str:
    """The Subject as a mail client shows it (a long one is folded onto a second line)."""
    return " ".join(mail["Subject"].split())


def add_watch(member, *args) -> str:
    out = run("watch", "add", *args, "--home", member.home)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_watch_at_uz_sends_one_email_and_one_webhook_call_per_matching_incident_correction_and_withdrawal(
        net, smtp, tmp_path):
    hook = Receiver()  # down until the first alert has been tried
    printed = add_watch(net["uz"], "uz-fabricated", "--user", "ana", "--target-country", "UZ", "--verdict",
                        "fabricated", "--email", "ana@uz.example", "--webhook", hook.url)
    hook.secret = printed.split("secret (shown once): ")[1].strip()
    add_watch(net["az"], "telegram", "--user", "ana", "--platform", "telegram", "--email", "ana@az.example")
    net.start(sync=True)

    _, matching = net["kz"].add_incident(tmp_path, **incident_record(tlp="green", title="Border closure video"))
    net["kz"].add_incident(tmp_path, **incident_record(tlp="green", title="Not for UZ", target_countries=["TR"],
                                                       platforms=["vk"], verdict="satire"))
    wait_for(lambda: to(smtp, "ana@uz.example"), what="UZ's e-mail")
    wait_for(lambda: to(smtp, "ana@az.example"), what="AZ's e-mail, through UZ's relay")
    assert hook.calls == []
    tried = wait_for(lambda: _webhook_attempts(net["uz"]), what="a failed webhook try")
    hook.start()
    wait_for(lambda: hook.calls, what="the webhook call after a retry")
    time.sleep(5)  # two more pulls and several outbox polls: nothing is sent twice
    assert tried >= 1
    assert len(to(smtp, "ana@uz.example")) == 1 and len(to(smtp, "ana@az.example")) == 1
    assert len(hook.calls) == 1 and hook.calls[0]["valid"]
    mail = to(smtp, "ana@uz.example")[0]
    assert subject(mail) == "New incident: Border closure video [watch uz-fabricated]"
    assert f"{net['uz'].discovery.rsplit('/taxii2/', 1)[0]}/incidents/{matching}" in mail.get_content()
    assert hook.json_bodies()[0]["incident"]["id"] == matching

    record = yaml.safe_load(run("incident", "show", matching, "--home", net["kz"].home).stdout)
    path = tmp_path / "fix.yaml"
    path.write_text(yaml.safe_dump({**record, "title": "Border closure video (corrected)"}, allow_unicode=True))
    assert run("incident", "edit", matching, path, "--home", net["kz"].home).returncode == 0
    wait_for(lambda: len(to(smtp, "ana@uz.example")) == 2 and len(hook.calls) == 2, what="the correction's alerts")
    assert subject(to(smtp, "ana@uz.example")[1]) == \
        "Incident corrected: Border closure video (corrected) [watch uz-fabricated]"
    assert hook.json_bodies()[1]["event"] == "corrected" and hook.calls[1]["valid"]

    assert run("watch", "mute", "uz-fabricated", "--home", net["uz"].home).returncode == 0
    _, muted = net["kz"].add_incident(tmp_path, **incident_record(tlp="green", title="While muted"))
    out = run("incident", "withdraw", matching, "--reason", "Authentic after all.", "--home", net["kz"].home)
    assert out.returncode == 0, out.stderr
    wait_for(lambda: len(to(smtp, "ana@az.example")) == 4, what="AZ's alerts of the correction, the new "
                                                                 "incident and the withdrawal")
    time.sleep(5)
    assert len(to(smtp, "ana@uz.example")) == 2 and len(hook.calls) == 2  # muted: nothing more
    assert [subject(m).split(":")[0] for m in to(smtp, "ana@az.example")] == [
        "New incident", "Incident corrected", "New incident", "Incident withdrawn"]
    hook.stop()


def _webhook_attempts(member) -> int:
    row = member.node().store.one("SELECT attempts FROM alert_deliveries WHERE channel = 'webhook'")
    return row["attempts"] if row else 0
