"""Server-side web sessions. The signed cookie carries only a random token; the
database keeps its SHA-256 with the user and the start time. Log-out deletes the row,
so a copied cookie stops working at once; so does removing the account."""
from __future__ import annotations

import hashlib
import secrets

from ..store import Store
from ..timefmt import now_us

MAX_AGE_US = 7 * 86_400 * 1_000_000


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def start(store: Store, user: str) -> str:
    token = secrets.token_urlsafe(32)
    now = now_us()
    with store.transaction() as db:
        db.execute("DELETE FROM web_sessions WHERE created < ?", [now - MAX_AGE_US])
        db.execute("INSERT INTO web_sessions (id, user, created) VALUES (?, ?, ?)", [_digest(token), user, now])
    return token


def user_of(store: Store, token: str) -> dict | None:
    """The account a live session belongs to: name, role and UI language."""
    return store.one("SELECT u.name, u.role, u.language FROM web_sessions s JOIN users u ON u.name = s.user"
                     " WHERE s.id = ? AND s.created >= ?", [_digest(token), now_us() - MAX_AGE_US])


def end(store: Store, token: str) -> None:
    with store.transaction() as db:
        db.execute("DELETE FROM web_sessions WHERE id = ?", [_digest(token)])
