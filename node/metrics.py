"""`GET /metrics`: the node's state and traffic in the Prometheus text format.

Each app has its own CollectorRegistry (two nodes in one process, as in tests, never
mix their numbers). Two kinds of metric live in it:

- what the database holds, read at scrape time by `StoreCollector` (objects by origin
  and TLP, feed sizes, quarantine size, per-peer sync state): nothing to keep in step,
  and a scrape sees what another process (`qalqan sync`, `incident add`) stored too;
- request counts and latencies, observed by the access-log middleware (accesslog.py).

Only loopback callers and logged-in admins may read it: the numbers tell an outsider
what a node holds and whom it talks to. Behind a reverse proxy on the same host every
caller looks like loopback: have the proxy refuse /metrics.
"""
from __future__ import annotations

import math
import time

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .home import Node
from .server import is_loopback
from .sync.health import failure_counts

blueprint = Blueprint("metrics", __name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class StoreCollector:
    """Gauges read from the node's database at scrape time; each query is one pass over
    an index or a small table."""

    def __init__(self, node: Node):
        self.node = node

    def collect(self):
        store, config = self.node.store, self.node.config
        objects = GaugeMetricFamily("qalqan_objects", "Objects held (latest versions), by origin and TLP",
                                    labels=["origin", "tlp"])
        for row in store.query("SELECT origin, tlp, COUNT(*) AS n FROM objects WHERE latest = 1"
                               " GROUP BY origin, tlp"):
            objects.add_metric([row["origin"], row["tlp"]], row["n"])
        yield objects

        feeds = GaugeMetricFamily("qalqan_feed_objects", "Objects a feed carries (latest versions)", labels=["feed"])
        sizes = {r["feed"]: r["n"] for r in store.query(
            "SELECT feed, COUNT(*) AS n FROM feed_entries WHERE deleted = 0 AND latest = 1 GROUP BY feed")}
        for feed in config.feeds.values():
            feeds.add_metric([feed.name], sizes.get(feed.id, 0))
        yield feeds

        yield GaugeMetricFamily("qalqan_quarantine_objects", "Objects waiting in the quarantine for a signer's key",
                                value=store.one("SELECT COUNT(*) AS n FROM quarantine")["n"])
        yield from self._peers()

    def _peers(self):
        store = self.node.store
        rows = {r["name"]: r for r in store.query("SELECT name, last_success FROM peers")}
        names = sorted(set(self.node.config.peers) | set(rows))
        last = GaugeMetricFamily("qalqan_peer_last_success_timestamp_seconds",
                                 "Unix time of the last successful sync with a peer (0: never)", labels=["peer"])
        lag = GaugeMetricFamily("qalqan_peer_lag_seconds",
                                "Seconds since the last successful sync with a peer (+Inf: never)", labels=["peer"])
        errors = CounterMetricFamily("qalqan_peer_errors", "Failed sync attempts with a peer since the node started",
                                     labels=["peer"])
        failures = failure_counts(store)
        now = time.time()
        for name in names:
            success_us = (rows.get(name) or {}).get("last_success")
            last.add_metric([name], success_us / 1e6 if success_us else 0)
            lag.add_metric([name], max(0.0, now - success_us / 1e6) if success_us else math.inf)
            errors.add_metric([name], failures.get(name, 0))
        yield last
        yield lag
        yield errors


class Metrics:
    """The registry of one app and the request metrics the access log feeds."""

    def __init__(self, node: Node):
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(node))
        self.requests = Counter("qalqan_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("qalqan_http_request_duration_seconds",
                                 "Time from a request's arrival to the last byte of its answer",
                                 ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)


def _caller_is_admin() -> bool:
    if not hasattr(current_app, "login_manager"):
        return False
    from flask_login import current_user
    return bool(getattr(current_user, "is_admin", False))


@blueprint.route("/metrics")
def metrics() -> Response:
    if not (is_loopback(request.remote_addr or "") or _caller_is_admin()):
        abort(403)
    registry = current_app.extensions["qalqan_metrics"].registry
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST,
                    headers={"Cache-Control": "no-store"})
