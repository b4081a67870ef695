"""Peer health in the `peers` table: last attempt, success and error, running counts.

Counts are added in the same transaction as the page they describe, so they stay
true across crashes. Failures are also counted in memory since the process started
(`failure_counts`), which is what the `qalqan_peer_errors_total` metric reports.
"""
from __future__ import annotations

import threading
from collections import Counter

from ..store import Store
from ..timefmt import now_us

COUNTED = ("received", "accepted", "duplicates", "quarantined", "rejected")

_failures: Counter = Counter()  # (database path, peer) -> failures since start
_failures_lock = threading.Lock()


def _ensure(store: Store, peer: str) -> None:
    store.conn.execute("INSERT OR IGNORE INTO peers (name) VALUES (?)", [peer])


def attempted(store: Store, peer: str) -> None:
    with store.transaction():
        _ensure(store, peer)
        store.conn.execute("UPDATE peers SET last_attempt = ? WHERE name = ?", [now_us(), peer])


def succeeded(store: Store, peer: str) -> None:
    with store.transaction():
        _ensure(store, peer)
        store.conn.execute("UPDATE peers SET last_success = ? WHERE name = ?", [now_us(), peer])


def failed(store: Store, peer: str, message: str) -> None:
    with _failures_lock:
        _failures[(store.path, peer)] += 1
    with store.transaction():
        _ensure(store, peer)
        store.conn.execute("UPDATE peers SET last_error = ?, last_error_at = ? WHERE name = ?",
                           [message, now_us(), peer])


def add_counts(store: Store, peer: str, counts: dict[str, int]) -> None:
    """Call inside the page's transaction."""
    _ensure(store, peer)
    sets = ", ".join(f"{k} = COALESCE({k}, 0) + ?" for k in COUNTED)
    store.conn.execute(f"UPDATE peers SET {sets} WHERE name = ?", [counts.get(k, 0) for k in COUNTED] + [peer])


def failure_counts(store: Store) -> dict[str, int]:
    """Failed sync attempts per peer of this store's node since this process started."""
    with _failures_lock:
        return {peer: n for (path, peer), n in _failures.items() if path == store.path}
