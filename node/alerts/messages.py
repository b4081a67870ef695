"""What an alert says: the e-mail and apprise text (templates in node/alerts/templates/,
so translations can take them) and the webhook's JSON, built from a notification and
the incident index as they are when the alert is sent."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from ..i18n import DEFAULT_LOCALE, LOCALES, catalogue
from ..policy import alert_may_describe
from ..store import Store
from ..timefmt import us_to_taxii


@dataclass
class Alert:
    delivery: int
    event: str
    watch: str
    user: str
    incident_id: str
    link: str
    tlp: str | None
    title: str | None
    verdict: str | None
    source: str | None
    sighting_id: str | None
    sighting_by: str | None
    created: int
    node: str
    watches_link: str
    language: str = "en"  # the watch owner's UI language (node/i18n.py), for the e-mail and apprise text

    @property
    def described(self) -> bool:
        return alert_may_describe(self.tlp)


def load_alert(store: Store, delivery_id: int, node_name: str, base_url: str) -> Alert | None:
    row = store.one(
        "SELECT d.id, n.event, n.user, n.incident_id, n.object_id, n.created, w.name AS watch, i.tlp, i.title,"
        " i.verdict, c.name AS node_name, c.country AS node_country FROM alert_deliveries d"
        " JOIN notifications n ON n.id = d.notification JOIN watches w ON w.id = n.watch"
        " LEFT JOIN web_incidents i ON i.incident_id = n.incident_id LEFT JOIN cards c ON c.identity = i.created_by"
        " WHERE d.id = ?", [delivery_id])
    if row is None:
        return None
    base = base_url.rstrip("/")
    return Alert(
        delivery=row["id"], event=row["event"], watch=row["watch"], user=row["user"], incident_id=row["incident_id"],
        link=f"{base}/incidents/{row['incident_id']}", tlp=row["tlp"], title=row["title"], verdict=row["verdict"],
        source=_node(row["node_name"], row["node_country"]), sighting_id=row["object_id"],
        sighting_by=_sighting_by(store, row["object_id"]), created=row["created"], node=node_name,
        watches_link=f"{base}/watches", language=_language(store, row["user"]))


def _language(store: Store, user: str) -> str:
    row = store.one("SELECT language FROM users WHERE name = ?", [user])
    return row["language"] if row and row["language"] in LOCALES else DEFAULT_LOCALE


def _node(name: str | None, country: str | None) -> str | None:
    return f"{name} ({country})" if name and country else name


def _sighting_by(store: Store, sighting_id: str | None) -> str | None:
    if not sighting_id:
        return None
    row = store.one("SELECT c.name, c.country FROM objects o JOIN cards c ON c.identity = o.created_by"
                    " WHERE o.id = ? AND o.latest = 1", [sighting_id])
    return _node(row["name"], row["country"]) if row else None


@lru_cache(maxsize=16)
def _templates(locale: str) -> Environment:
    """The alert templates in one language (the watch owner's; English by default)."""
    # Plain text: nothing is escaped, and a missing value is an error rather than a blank.
    env = Environment(loader=PackageLoader("node.alerts", "templates"), autoescape=False,
                      undefined=StrictUndefined, keep_trailing_newline=True, extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(catalogue(locale), newstyle=True)
    return env


def _context(alert: Alert) -> dict:
    return {**alert.__dict__, "described": alert.described}


def subject(alert: Alert) -> str:
    return " ".join(_templates(alert.language).get_template("email_subject.txt").render(_context(alert)).split())


def body(alert: Alert) -> str:
    return _templates(alert.language).get_template("email_body.txt").render(_context(alert))


def webhook_body(alert: Alert) -> bytes:
    """The JSON a webhook receives, as the exact bytes its signature covers."""
    incident = {"id": alert.incident_id, "url": alert.link, "tlp": alert.tlp}
    if alert.described:
        incident.update(title=alert.title, verdict=alert.verdict, source=alert.source)
    data = {"delivery": alert.delivery, "event": alert.event, "watch": alert.watch, "user": alert.user,
            "incident": incident, "node": alert.node, "created": us_to_taxii(alert.created)}
    if alert.sighting_id:
        data["sighting"] = {"id": alert.sighting_id, "by": alert.sighting_by}
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
