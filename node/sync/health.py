"""Peer health in the `peers` table: last attempt, success and error, running counts.

The table keeps only the latest error; every failure is also written to the audit log
(event `sync-failed`), which keeps the history. `peer_states` is what status and the
admin page show: a peer's last error only while it is newer than its last success.

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
        store.audit("sync-failed", None, None, peer, message)


def peer_states(store: Store) -> dict[str, dict]:
    """Each peer's row by name, with last_error and last_error_at cleared when a success
    came after them: an error already recovered from is history (in the audit log)."""
    states = {}
    for row in store.query("SELECT * FROM peers"):
        if row["last_error_at"] is not None and (row["last_success"] or 0) >= row["last_error_at"]:
            row["last_error"] = row["last_error_at"] = None
        states[row["name"]] = row
    return states


def add_counts(store: Store, peer: str, counts: dict[str, int]) -> None:
    """Call inside the page's transaction."""
    _ensure(store, peer)
    sets = ", ".join(f"{k} = COALESCE({k}, 0) + ?" for k in COUNTED)
    store.conn.execute(f"UPDATE peers SET {sets} WHERE name = ?", [counts.get(k, 0) for k in COUNTED] + [peer])


def failure_counts(store: Store) -> dict[str, int]:
    """Failed sync attempts per peer of this store's node since this process started."""
    with _failures_lock:
        return {peer: n for (path, peer), n in _failures.items() if path == store.path}
