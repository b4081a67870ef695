"""Web UI accounts: names, roles and password hashes (scrypt via werkzeug).

Removing an account or changing its password ends its web sessions (the table
web_sessions of node/web/sessions.py), and is written to the audit log.
"""
from __future__ import annotations

from functools import lru_cache

from werkzeug.security import check_password_hash, generate_password_hash

from .config import NAME_RE
from .errors import InputError
from .store import Store
from .timefmt import now_us

ROLES = ("analyst", "admin")
MIN_PASSWORD = 10


def add_user(store: Store, name: str, role: str, password: str, by: str = "cli", language: str | None = None) -> None:
    language = _checked_language(language)
    if not NAME_RE.match(name):
        raise InputError(f"NAME: {name!r} is not a user name (a-z, 0-9, _ or -)")
    if role not in ROLES:
        raise InputError(f"--role: must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise InputError(f"password: at least {MIN_PASSWORD} characters")
    with store.transaction() as db:
        if db["users"].count_where("name = ?", [name]):
            raise InputError(f"NAME: a user named {name!r} exists")
        db["users"].insert({"name": name, "role": role, "password_hash": generate_password_hash(password),
                            "created": now_us(), "language": language})
        store.audit("user-added", None, None, by, f"user {name} ({role}) added")


def list_users(store: Store) -> list[dict]:
    """Every account: name, role, created, and how many web sessions it has open."""
    return store.query("SELECT u.name, u.role, u.created, (SELECT COUNT(*) FROM web_sessions s"
                       " WHERE s.user = u.name) AS sessions FROM users u ORDER BY u.name")


def remove_user(store: Store, name: str, by: str = "cli") -> None:
    with store.transaction() as db:
        if not db.execute("DELETE FROM users WHERE name = ?", [name]).rowcount:
            raise InputError(f"NAME: no user named {name!r}")
        ended = db.execute("DELETE FROM web_sessions WHERE user = ?", [name]).rowcount
        store.audit("user-removed", None, None, by, f"user {name} removed; {ended} web session(s) ended")


def set_password(store: Store, name: str, password: str, by: str = "cli") -> int:
    """Give `name` a new password and end its web sessions (whoever held the old one is
    logged out); returns how many ended."""
    if len(password) < MIN_PASSWORD:
        raise InputError(f"password: at least {MIN_PASSWORD} characters")
    with store.transaction() as db:
        if not db.execute("UPDATE users SET password_hash = ? WHERE name = ?",
                          [generate_password_hash(password), name]).rowcount:
            raise InputError(f"NAME: no user named {name!r}")
        ended = db.execute("DELETE FROM web_sessions WHERE user = ?", [name]).rowcount
        store.audit("user-password", None, None, by, f"password of user {name} changed; {ended} web session(s) ended")
    return ended


def _checked_language(language: str | None) -> str | None:
    """A UI language of node/i18n.py (`uz` and `uz-Latn` read as uz_Latn), or None for
    "as the browser asks"."""
    if language in (None, ""):
        return None
    from .i18n import LOCALES, locale_of
    locale = locale_of(language)
    if locale is None:
        raise InputError(f"language: {language!r} is not one of {', '.join(LOCALES)}")
    return locale


def set_language(store: Store, name: str, language: str | None) -> str | None:
    """The account's UI language (None: the browser's Accept-Language decides)."""
    language = _checked_language(language)
    with store.transaction() as db:
        if not db.execute("UPDATE users SET language = ? WHERE name = ?", [language, name]).rowcount:
            raise InputError(f"NAME: no user named {name!r}")
    return language


def check_login(store: Store, name: str, password: str) -> dict | None:
    row = store.one("SELECT name, role, password_hash FROM users WHERE name = ?", [name])
    if row is None:
        # Same work for unknown names, so timing does not reveal which names exist.
        check_password_hash(_dummy_hash(), password)
        return None
    return row if check_password_hash(row["password_hash"], password) else None


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Made on first use: scrypt is deliberately slow and every CLI start imports this module.
    return generate_password_hash("not a real password")
