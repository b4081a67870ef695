"""The alert delivery worker of `qalqan serve`: sends what the ingest hook queued.

Deliveries are rows of `alert_deliveries` (one per notification and target). The
worker claims the due ones (a claim moves `next_at` past the delivery's timeout, so a
crash mid-send retries it after a restart instead of losing it), sends each on a
thread of a small pool with a timeout, and records the outcome: sent; or another try
after `alerts.retry_after` seconds, doubled after each failure up to
`alerts.max_retry_after`; or, after `alerts.max_attempts` tries, failed. One target
(an address, a URL) is never sent to by two threads at once, so an endpoint that hangs
holds one thread at most and the others go on. Delivery is at least once: a send that
succeeded just before a crash is sent again after the restart.

Secrets (the SMTP password, webhook secrets, apprise URLs) are never logged; errors
name the target as `shown_target` cuts it.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import smtplib
import ssl
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

from ..config import Config
from ..errors import ConfigError, StoreBusy
from ..logs import get_logger, printable
from ..store import Store
from ..timefmt import now_us
from . import messages
from .watches import load_apprise, shown_target, watch_from_row, webhook_secret

if TYPE_CHECKING:
    from ..home import Node

log = get_logger(__name__)

SIGNATURE_HEADER = "X-Qalqan-Signature"
CLAIM_MARGIN_US = 60_000_000  # a claimed delivery is retried this long after its timeout, if never finished
MAX_ERROR = 300


class DeliveryFailed(Exception):
    """A try that did not deliver; the message names the cause, never a secret."""


class Deliverer:
    """Claims due deliveries and sends them on a pool of `alerts.workers` threads."""

    def __init__(self, node: "Node"):
        self.node = node
        self.home = node.home
        self.store: Store = node.store
        self._busy: set[tuple[str, str]] = set()  # (channel, target) being sent to
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=int(self.config["alerts.workers"]),
                                        thread_name_prefix="qalqan-alert")

    @property
    def config(self) -> Config:
        return self.node.config

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.node.reload_config_if_changed()  # a new SMTP server or timeout applies at once
                self.dispatch_due()
            except StoreBusy as exc:  # a long import holds the writer: the next poll tries again
                log.warning("alerts: %s", exc.message)
            except Exception:  # noqa: BLE001 - logged; the worker must outlive a bad row
                log.exception("alerts: the outbox could not be read")
            self._wake.wait(float(self.config["alerts.poll"]))
            self._wake.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def dispatch_due(self) -> int:
        """Claim what is due and hand it to the pool; returns how many were handed."""
        now = now_us()
        rows = self.store.query("SELECT id, channel, target FROM alert_deliveries WHERE state = 'pending'"
                                " AND next_at <= ? ORDER BY next_at, id LIMIT 100", [now])
        lease = now + int(float(self.config["alerts.timeout"]) * 1_000_000) + CLAIM_MARGIN_US
        handed = 0
        for row in rows:
            target = (row["channel"], row["target"])
            with self._lock:
                if target in self._busy:
                    continue
                with self.store.transaction():
                    claimed = self.store.conn.execute(
                        "UPDATE alert_deliveries SET next_at = ? WHERE id = ? AND state = 'pending' AND next_at <= ?",
                        [lease, row["id"], now]).rowcount
                if not claimed:
                    continue
                self._busy.add(target)
            self._pool.submit(self._deliver, row["id"], target)
            handed += 1
        return handed

    def _deliver(self, delivery_id: int, target: tuple[str, str]) -> None:
        try:
            error = None
            try:
                self.send(delivery_id)
            except DeliveryFailed as exc:
                error = str(exc)
            except Exception as exc:  # noqa: BLE001 - any failure of one delivery is its own, retried
                error = f"unexpected error: {type(exc).__name__}"
                log.exception("alerts: delivery %d (%s) failed unexpectedly", delivery_id, target[0])
            try:
                self._record(delivery_id, target, error)
            except StoreBusy as exc:  # the claim runs out and the delivery is tried again
                log.warning("alerts: the outcome of delivery %d was not recorded: %s", delivery_id, exc.message)
        finally:
            with self._lock:
                self._busy.discard(target)
            self._wake.set()  # the same target may have more waiting

    def send(self, delivery_id: int) -> None:
        row = self.store.one("SELECT d.channel, d.target, w.* FROM alert_deliveries d"
                             " JOIN notifications n ON n.id = d.notification JOIN watches w ON w.id = n.watch"
                             " WHERE d.id = ?", [delivery_id])
        alert = messages.load_alert(self.store, delivery_id, self.config.name, self.config["node.url"])
        if row is None or alert is None:
            return  # the watch was removed meanwhile: its deliveries went with it
        channel, target = row["channel"], row["target"]
        if channel == "email":
            send_email(self.home, self.config, target, alert)
        elif channel == "webhook":
            salt = watch_from_row(row).webhook_salt(target)
            if salt is None:
                raise DeliveryFailed("the webhook is no longer on the watch")
            send_webhook(target, webhook_secret(self.home, salt), messages.webhook_body(alert), alert,
                         float(self.config["alerts.timeout"]))
        elif channel == "apprise":
            send_apprise(target, alert)
        else:
            raise DeliveryFailed(f"unknown channel {channel!r}")

    def _record(self, delivery_id: int, target: tuple[str, str], error: str | None) -> None:
        now = now_us()
        with self.store.transaction():
            row = self.store.one("SELECT attempts FROM alert_deliveries WHERE id = ?", [delivery_id])
            if row is None:
                return
            attempts = row["attempts"] + 1
            if error is None:
                self.store.conn.execute("UPDATE alert_deliveries SET state = 'sent', attempts = ?, done_at = ?,"
                                        " last_error = NULL WHERE id = ?", [attempts, now, delivery_id])
                log.info("alert %d sent by %s to %s", delivery_id, target[0], shown_target(*target))
                return
            error = printable(error)[:MAX_ERROR]
            if attempts >= int(self.config["alerts.max_attempts"]):
                self.store.conn.execute("UPDATE alert_deliveries SET state = 'failed', attempts = ?, done_at = ?,"
                                        " last_error = ? WHERE id = ?", [attempts, now, error, delivery_id])
                log.error("alert %d by %s to %s given up after %d tries: %s", delivery_id, target[0],
                          shown_target(*target), attempts, error)
                return
            wait = retry_delay(self.config, attempts)
            self.store.conn.execute("UPDATE alert_deliveries SET attempts = ?, next_at = ?, last_error = ?"
                                    " WHERE id = ?", [attempts, now + int(wait * 1_000_000), error, delivery_id])
            log.warning("alert %d by %s to %s failed (try %d, next in %.0f s): %s", delivery_id, target[0],
                        shown_target(*target), attempts, wait, error)


def retry_delay(config: Config, attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed try."""
    first, ceiling = float(config["alerts.retry_after"]), float(config["alerts.max_retry_after"])
    return min(ceiling, first * 2 ** (attempts - 1))


# -- channels ------------------------------------------------------------------------------

def signature(secret: str, body: bytes) -> str:
    """The X-Qalqan-Signature value: HMAC-SHA256 of the exact body, keyed by the webhook's secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def send_webhook(url: str, secret: str, body: bytes, alert: messages.Alert, timeout: float) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "qalqan-alerts",
               SIGNATURE_HEADER: signature(secret, body), "X-Qalqan-Event": alert.event,
               "X-Qalqan-Delivery": str(alert.delivery)}
    try:
        response = requests.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: the webhook did not answer") from None
    response.close()
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"the webhook answered HTTP {response.status_code}")


def send_apprise(url: str, alert: messages.Alert) -> None:
    sender = load_apprise().Apprise()
    if not sender.add(url):
        raise DeliveryFailed("apprise does not take this URL")
    if not sender.notify(title=messages.subject(alert), body=messages.body(alert)):
        raise DeliveryFailed("apprise could not deliver (its service refused or did not answer)")


def send_email(home: Path, config: Config, address: str, alert: messages.Alert) -> None:
    host = config["alerts.smtp.host"]
    if not host:
        raise DeliveryFailed("alerts.smtp.host is not set, so no e-mail can be sent")
    sender = config["alerts.smtp.from"] or f"qalqan@{urlsplit(config['node.url']).hostname}"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, address, messages.subject(alert)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    message.set_content(messages.body(alert))
    port, tls, timeout = int(config["alerts.smtp.port"]), config["alerts.smtp.tls"], float(config["alerts.timeout"])
    try:
        if tls == "ssl":
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if config["alerts.smtp.user"]:
                client.login(config["alerts.smtp.user"], smtp_password(home, config))
            client.send_message(message)
    except ConfigError as exc:
        raise DeliveryFailed(exc.message) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"SMTP {host}:{port}: {_smtp_reason(exc)}") from None


def _smtp_reason(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        said = exc.smtp_error
        return f"{exc.smtp_code} {said.decode('utf-8', 'replace') if isinstance(said, bytes) else said}"
    return type(exc).__name__ + (f" ({exc.strerror})" if isinstance(exc, OSError) and exc.strerror else "")


def smtp_password(home: Path, config: Config) -> str:
    """From the environment variable alerts.smtp.password_env, or the file
    alerts.smtp.password_file, which no one but the node's user may read."""
    env = config["alerts.smtp.password_env"]
    if env:
        value = os.environ.get(env)
        if not value:
            raise ConfigError(f"alerts.smtp.password_env: the environment variable {env} is not set")
        return value
    path = config["alerts.smtp.password_file"]
    if not path:
        raise ConfigError("alerts.smtp.user is set but neither alerts.smtp.password_env nor password_file is")
    file = Path(home) / path
    try:
        mode = file.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"alerts.smtp.password_file: {file} may be read by others; chmod 600 it")
        return file.read_text("utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"alerts.smtp.password_file: {file}: {exc.strerror or 'cannot be read'}") from None


# -- in `qalqan serve` -------------------------------------------------------------------

def start_delivery(home: Path, stop: threading.Event) -> threading.Thread:
    """Start the worker in its own thread, with the node's configuration as it is at the
    start and after each edit that loads (a changed SMTP server applies at once)."""
    thread = threading.Thread(target=_run, args=(Path(home), stop), name="qalqan-alerts", daemon=True)
    thread.start()
    return thread


def _run(home: Path, stop: threading.Event) -> None:
    from ..home import Node
    try:
        node = Node(home)
    except Exception as exc:  # noqa: BLE001 - serve checked the home at start; log and leave the rest running
        log.error("alerts: no delivery: %s", exc)
        return
    Deliverer(node).run(stop)
