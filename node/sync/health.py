"""Peer health in the `peers` table: last attempt, success and error, running counts.

Counts are added in the same transaction as the page they describe, so they stay
true across crashes.
"""
from __future__ import annotations

from ..store import Store
from ..timefmt import now_us

COUNTED = ("received", "accepted", "duplicates", "quarantined", "rejected")


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
    with store.transaction():
        _ensure(store, peer)
        store.conn.execute("UPDATE peers SET last_error = ?, last_error_at = ? WHERE name = ?",
                           [message, now_us(), peer])


def add_counts(store: Store, peer: str, counts: dict[str, int]) -> None:
    """Call inside the page's transaction."""
    _ensure(store, peer)
    sets = ", ".join(f"{k} = COALESCE({k}, 0) + ?" for k in COUNTED)
    store.conn.execute(f"UPDATE peers SET {sets} WHERE name = ?", [counts.get(k, 0) for k in COUNTED] + [peer])
