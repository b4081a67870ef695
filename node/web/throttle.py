"""Log-in rate limit: failed attempts per (client address, user name), kept in the
node's database so it holds across worker threads, processes and restarts."""
from __future__ import annotations

from ..store import Store
from ..timefmt import now_us

MAX_FAILURES = 5
WINDOW_US = 15 * 60 * 1_000_000


def _key(address: str | None, name: str) -> str:
    return f"{address or '-'}|{name.casefold()}"


def seconds_blocked(store: Store, address: str | None, name: str) -> int:
    """0 if a log-in attempt may go ahead, else how long until it may."""
    since = now_us() - WINDOW_US
    rows = store.query("SELECT at FROM web_login_failures WHERE key = ? AND at > ? ORDER BY at DESC LIMIT ?",
                       [_key(address, name), since, MAX_FAILURES])
    if len(rows) < MAX_FAILURES:
        return 0
    oldest_counted = rows[-1]["at"]
    return max(1, (oldest_counted + WINDOW_US - now_us()) // 1_000_000)


def record_failure(store: Store, address: str | None, name: str) -> None:
    with store.transaction() as db:
        db.execute("DELETE FROM web_login_failures WHERE at <= ?", [now_us() - WINDOW_US])
        db.execute("INSERT INTO web_login_failures (key, at) VALUES (?, ?)", [_key(address, name), now_us()])


def clear(store: Store, address: str | None, name: str) -> None:
    with store.transaction() as db:
        db.execute("DELETE FROM web_login_failures WHERE key = ?", [_key(address, name)])
