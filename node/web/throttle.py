"""Log-in rate limit, kept in the node's database so it holds across worker threads,
processes and restarts. Two budgets per window: failures per (client address, user
name), so one account cannot be guessed at, and failures per client address across all
names, so names cannot be sprayed. Keys are fixed-size digests: what an anonymous client
types never grows the database by more than one short row per attempt."""
from __future__ import annotations

import hashlib

from ..store import Store
from ..timefmt import now_us

MAX_FAILURES = 5             # per address and user name
MAX_ADDRESS_FAILURES = 20    # per address, whatever the names
WINDOW_US = 15 * 60 * 1_000_000


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _account_key(address: str | None, name: str) -> str:
    return "n:" + _digest(address or "-", name.casefold())


def _address_key(address: str | None) -> str:
    return "a:" + _digest(address or "-")


def _wait(store: Store, key: str, budget: int) -> int:
    rows = store.query("SELECT at FROM web_login_failures WHERE key = ? AND at > ? ORDER BY at DESC LIMIT ?",
                       [key, now_us() - WINDOW_US, budget])
    if len(rows) < budget:
        return 0
    oldest_counted = rows[-1]["at"]
    return max(1, (oldest_counted + WINDOW_US - now_us()) // 1_000_000)


def seconds_blocked(store: Store, address: str | None, name: str) -> int:
    """0 if a log-in attempt may go ahead, else how long until it may."""
    return max(_wait(store, _account_key(address, name), MAX_FAILURES),
               _wait(store, _address_key(address), MAX_ADDRESS_FAILURES))


def record_failure(store: Store, address: str | None, name: str) -> None:
    now = now_us()
    with store.transaction():
        store.conn.execute("DELETE FROM web_login_failures WHERE at <= ?", [now - WINDOW_US])
        store.conn.executemany("INSERT INTO web_login_failures (key, at) VALUES (?, ?)",
                       [(_account_key(address, name), now), (_address_key(address), now)])


def clear(store: Store, address: str | None, name: str) -> None:
    """After a success: that account's failures are forgiven, the address's budget is not."""
    with store.transaction() as db:
        db.execute("DELETE FROM web_login_failures WHERE key = ?", [_account_key(address, name)])
