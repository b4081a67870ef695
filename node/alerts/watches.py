"""Watches: saved incident filters of a web account, and where alerts go.

The filter fields are those of the incident list (target country, DISARM technique,
verdict, platform, text) plus an observable (a URL or an account login); a watch
matches what the list would show for the same filter (node/incident_query.py).

Who may set what (docs/alerts.md): an analyst keeps watches for their own account and
may have alerts e-mailed; webhook and apprise URLs (which reach any address the node
can, loopback included) only an admin or the command line sets. Each webhook gets its
own secret, shown once: the HMAC key of its signatures, derived from the node's
keys/alerts-webhook.secret and a random salt kept with the watch.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field

from ..config import COUNTRY_RE, NAME_RE
from ..disarm import Disarm
from ..errors import InputError
from ..incident import VERDICTS
from ..incident_query import Filters, fts_query
from ..object_ids import create_secret, secret_path
from ..store import Store
from ..timefmt import now_us
from . import FILTER_FIELDS

# A watch's filter field → the incident index's term kind (node/incident_query.py).
TERM_OF = {"target_country": "country", "technique": "technique", "verdict": "verdict", "platform": "platform"}
MAX_TEXT = 500
MAX_TARGETS = 10  # addresses or URLs per channel
WEBHOOK_SECRET_FILE = "alerts-webhook.secret"
EMAIL_RE = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253})\.[A-Za-z0-9-]{2,63}$")
PLATFORM_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
TECHNIQUE_RE = re.compile(r"^T\d{4}(\.\d{3})?$")
HTTP_URL_RE = re.compile(r"^https?://[^\s/?#@]+(/[^\s#]*)?(\?[^\s#]*)?$")
CLI = "cli"  # who the command line acts as: the operator of the node, with every right


@dataclass
class Actor:
    """Who makes a change: a web account (name, role) or the command line."""

    name: str
    role: str = "admin"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def audit_name(self) -> str:
        return "cli" if self.name == CLI else f"{self.role} {self.name}"


@dataclass
class Watch:
    id: int
    name: str
    user: str
    filters: dict[str, str]
    emails: list[str] = field(default_factory=list)
    webhooks: list[dict] = field(default_factory=list)  # {"url", "salt"}
    apprise: list[str] = field(default_factory=list)
    muted: bool = False
    created: int = 0
    created_by: str = CLI

    def query(self) -> Filters:
        """The watch as the filters of the incident list."""
        return Filters(text=self.filters.get("text", ""), observable=self.filters.get("observable", ""),
                       terms={kind: self.filters[f] for f, kind in TERM_OF.items() if self.filters.get(f)})

    @property
    def channels(self) -> list[tuple[str, str]]:
        """(channel, target) of every delivery a notification of this watch makes."""
        return ([("email", a) for a in self.emails] + [("webhook", w["url"]) for w in self.webhooks]
                + [("apprise", u) for u in self.apprise])

    def webhook_salt(self, url: str) -> str | None:
        return next((w["salt"] for w in self.webhooks if w["url"] == url), None)


def watch_from_row(row: dict) -> Watch:
    return Watch(id=row["id"], name=row["name"], user=row["user"], filters=json.loads(row["filters"]),
                 emails=json.loads(row["emails"]), webhooks=json.loads(row["webhooks"]),
                 apprise=json.loads(row["apprise"]), muted=bool(row["muted"]), created=row["created"],
                 created_by=row["created_by"])


# -- checking what was typed ------------------------------------------------------------

def check_filters(values: dict, disarm: Disarm) -> dict[str, str]:
    """The filter fields of a watch, normalised, or one InputError naming the field."""
    out = {}
    for name in FILTER_FIELDS:
        value = values.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if not isinstance(value, str):
            raise InputError(f"{name}: must be text")
        value = value.strip()
        if name == "target_country":
            value = value.upper()
            if not COUNTRY_RE.match(value):
                raise InputError(f"target_country: {value!r} is not an ISO 3166-1 alpha-2 code such as KZ")
        elif name == "technique":
            value = value.upper()
            if not TECHNIQUE_RE.match(value) or value not in disarm.techniques:
                raise InputError(f"technique: {value!r} is not a DISARM technique id such as T0023")
        elif name == "verdict":
            if value not in VERDICTS:
                raise InputError(f"verdict: must be one of {', '.join(VERDICTS)}")
        elif name == "platform":
            value = value.lower()
            if not PLATFORM_RE.match(value):
                raise InputError(f"platform: {value!r} is not a platform name such as telegram or tiktok")
        elif name == "text":
            if len(value) > MAX_TEXT:
                raise InputError(f"text: at most {MAX_TEXT} characters")
            if fts_query(value) is None:
                raise InputError("text: give at least one word of letters or digits")
        elif name == "observable":
            if len(value) > 2048 or any(c.isspace() for c in value) or value in ("@",):
                raise InputError(f"observable: {value[:80]!r} is not a URL or an account login (no spaces)")
            if value.lower().startswith(("http://", "https://")) and not HTTP_URL_RE.match(value):
                raise InputError(f"observable: {value[:80]!r} is not a URL")
        out[name] = value
    return out


def check_emails(addresses: list[str]) -> list[str]:
    out = _unique(a.strip() for a in addresses if a and a.strip())
    for address in out:
        if not EMAIL_RE.match(address):
            raise InputError(f"email: {address[:80]!r} is not an e-mail address")
    return _bounded(out, "email")


def check_webhooks(urls: list[str]) -> list[str]:
    out = _unique(u.strip() for u in urls if u and u.strip())
    for url in out:
        if not HTTP_URL_RE.match(url) or len(url) > 2048:
            raise InputError(f"webhook: {shown_target('webhook', url)[:80]!r} is not an http(s) URL")
    return _bounded(out, "webhook")


def check_apprise(urls: list[str]) -> list[str]:
    out = _unique(u.strip() for u in urls if u and u.strip())
    if out:
        apprise = load_apprise()
        for url in out:
            if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
                raise InputError(f"apprise: {shown_target('apprise', url)} is not a URL apprise can send to "
                                 "(e.g. tgram://BOT_TOKEN/CHAT_ID for Telegram)")
    return _bounded(out, "apprise")


def load_apprise():
    """apprise, imported where it is used (it loads its plugins on import), with its own
    log lines off: they may quote a URL, and an apprise URL holds its service's token."""
    import logging

    import apprise
    logging.getLogger("apprise").setLevel(logging.CRITICAL + 1)
    return apprise


def _unique(items) -> list[str]:
    return list(dict.fromkeys(items))


def _bounded(items: list[str], what: str) -> list[str]:
    if len(items) > MAX_TARGETS:
        raise InputError(f"{what}: at most {MAX_TARGETS} per watch")
    return items


def check_rights(actor: Actor, owner: str, webhooks: list[str], apprise_urls: list[str]) -> None:
    """The one rule of who may set what on a watch (docs/alerts.md, "Who may set what")."""
    if actor.is_admin:
        return
    if owner != actor.name:
        raise InputError("user: an analyst keeps watches for their own account only")
    if webhooks:
        raise InputError("webhook: only an admin may send alerts to a webhook (it can reach any address)")
    if apprise_urls:
        raise InputError("apprise: only an admin may send alerts through apprise URLs")


def shown_target(channel: str, target: str) -> str:
    """A delivery target as lists and logs show it: an apprise URL holds its service's
    secret (a bot token), a webhook URL may hold one in its query; both are cut."""
    if channel == "apprise":
        return target.split("://", 1)[0] + "://…"
    if channel == "webhook":
        return target.split("?", 1)[0] + ("?…" if "?" in target else "")
    return target


# -- webhook secrets -----------------------------------------------------------------------

def webhook_secret(home, salt: str) -> str:
    """The HMAC key of one webhook's signatures (shown once, when the watch is made)."""
    create_secret(home, WEBHOOK_SECRET_FILE)
    key = secret_path(home, WEBHOOK_SECRET_FILE).read_bytes()
    return "qwh_" + hmac.new(key, salt.encode("ascii"), hashlib.sha256).hexdigest()


# -- the table -------------------------------------------------------------------------------

@dataclass
class Added:
    watch: Watch
    secrets: dict[str, str]  # webhook URL → its secret, shown once


def add_watch(store: Store, home, disarm: Disarm, name: str, user: str, filters: dict, emails: list[str] = (),
              webhooks: list[str] = (), apprise_urls: list[str] = (), actor: Actor = Actor(CLI)) -> Added:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InputError(f"NAME: {str(name)[:80]!r} is not a watch name (a-z, 0-9, _ or -)")
    checked = check_filters(filters, disarm)
    emails, webhooks, apprise_urls = check_emails(list(emails)), check_webhooks(list(webhooks)), \
        check_apprise(list(apprise_urls))
    check_rights(actor, user, webhooks, apprise_urls)
    hooks = [{"url": url, "salt": secrets.token_hex(16)} for url in webhooks]
    with store.transaction() as db:
        if not db.execute("SELECT 1 FROM users WHERE name = ?", [user]).fetchone():
            raise InputError(f"user: no web account named {user!r} (`qalqan user add` makes one)")
        if db.execute("SELECT 1 FROM watches WHERE name = ?", [name]).fetchone():
            raise InputError(f"NAME: a watch named {name!r} exists")
        watch_id = db.execute(
            "INSERT INTO watches (name, user, filters, emails, webhooks, apprise, muted, created, created_by)"
            " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
            [name, user, json.dumps(checked, ensure_ascii=False), json.dumps(emails), json.dumps(hooks),
             json.dumps(apprise_urls), now_us(), actor.audit_name]).lastrowid
        store.audit("watch-added", None, None, actor.audit_name,
                    f"watch {name} of {user}: {describe_filters(checked)}; {len(emails)} e-mail, "
                    f"{len(hooks)} webhook, {len(apprise_urls)} apprise")
    watch = get_watch(store, name)
    assert watch is not None and watch.id == watch_id
    return Added(watch, {h["url"]: webhook_secret(home, h["salt"]) for h in hooks})


def get_watch(store: Store, name: str) -> Watch | None:
    row = store.one("SELECT * FROM watches WHERE name = ?", [name])
    return watch_from_row(row) if row else None


def list_watches(store: Store, user: str | None = None) -> list[dict]:
    """Watches (of one account, or all) with how many notifications each made and the
    state of their deliveries."""
    where, params = ("WHERE w.user = ?", [user]) if user else ("", [])
    rows = store.query(
        "SELECT w.*, (SELECT COUNT(*) FROM notifications n WHERE n.watch = w.id) AS notified,"
        " (SELECT COUNT(*) FROM alert_deliveries d JOIN notifications n ON n.id = d.notification"
        "  WHERE n.watch = w.id AND d.state = 'pending') AS pending,"
        " (SELECT COUNT(*) FROM alert_deliveries d JOIN notifications n ON n.id = d.notification"
        "  WHERE n.watch = w.id AND d.state = 'failed') AS failed"
        f" FROM watches w {where} ORDER BY w.user, w.name", params)
    return [{"watch": watch_from_row(r), "notified": r["notified"], "pending": r["pending"], "failed": r["failed"]}
            for r in rows]


def _owned(store: Store, name: str, actor: Actor) -> Watch:
    watch = get_watch(store, name)
    if watch is None or (not actor.is_admin and watch.user != actor.name):
        raise InputError(f"NAME: no watch named {name!r}" + ("" if actor.is_admin else " of yours"))
    return watch


def remove_watch(store: Store, name: str, actor: Actor = Actor(CLI)) -> None:
    """Remove a watch, its notifications and their queued deliveries."""
    with store.transaction():
        watch = _owned(store, name, actor)
        store.conn.execute("DELETE FROM watches WHERE id = ?", [watch.id])
        store.audit("watch-removed", None, None, actor.audit_name, f"watch {name} of {watch.user} removed")


def set_muted(store: Store, name: str, muted: bool, actor: Actor = Actor(CLI)) -> None:
    """A muted watch makes no notification (and so no delivery) until unmuted."""
    with store.transaction():
        watch = _owned(store, name, actor)
        store.conn.execute("UPDATE watches SET muted = ? WHERE id = ?", [int(muted), watch.id])
        store.audit("watch-muted" if muted else "watch-unmuted", None, None, actor.audit_name,
                    f"watch {name} of {watch.user} {'muted' if muted else 'unmuted'}")


def describe_filters(filters: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in filters.items()) or "every incident"


# -- notifications -------------------------------------------------------------------------

def unseen_count(store: Store, user: str) -> int:
    return store.one("SELECT COUNT(*) AS n FROM notifications WHERE user = ? AND seen IS NULL", [user])["n"]


def notifications_of(store: Store, user: str, before: int | None = None, limit: int = 100) -> list[dict]:
    """An account's notifications, newest first, with the incident as the index has it now."""
    where, params = "n.user = ?", [user]
    if before is not None:
        where += " AND n.id < ?"
        params.append(before)
    return store.query(
        "SELECT n.id, n.event, n.incident_id, n.object_id, n.created, n.seen, w.name AS watch, i.title, i.verdict,"
        " i.tlp, c.name AS node_name, c.country AS node_country FROM notifications n"
        " JOIN watches w ON w.id = n.watch LEFT JOIN web_incidents i ON i.incident_id = n.incident_id"
        f" LEFT JOIN cards c ON c.identity = i.created_by WHERE {where} ORDER BY n.id DESC LIMIT ?",
        [*params, limit])


def mark_seen(store: Store, user: str, notification_id: int | None = None) -> int:
    """Mark one of the account's notifications seen, or all of them; returns how many."""
    with store.transaction():
        if notification_id is not None:
            return store.conn.execute("UPDATE notifications SET seen = ? WHERE id = ? AND user = ? AND seen IS NULL",
                                      [now_us(), notification_id, user]).rowcount
        return store.conn.execute("UPDATE notifications SET seen = ? WHERE user = ? AND seen IS NULL",
                                  [now_us(), user]).rowcount
