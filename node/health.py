"""`GET /healthz`: may a load balancer or a supervisor send this node traffic?

No authentication and nothing secret in the answer. 200 `{"status": "ok", ...}` while
the database answers a query and a configuration is in force; 503 `{"status":
"unavailable", "reason": ...}` otherwise. A config edit that did not load does not
make the node unhealthy (it serves on with the last good configuration, confwatch.py)
but shows in `config.error`, so monitoring sees a fix is waiting.

The database is probed through a fresh read-only connection, so a database file that
was removed, replaced or damaged under the running node is noticed, not hidden by a
connection opened on the old file.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from flask import Blueprint, jsonify

from .appctx import current_node
from .timefmt import us_to_taxii

blueprint = Blueprint("health", __name__)

PROBE_TIMEOUT = 2.0


def probe_database(path: str) -> str | None:
    """None when the database at `path` answers a query; else why not."""
    try:
        conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, timeout=PROBE_TIMEOUT)
    except sqlite3.Error as exc:
        return f"database: {exc}"
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return None if row else "database: it records no schema version"
    except sqlite3.Error as exc:
        return f"database: {exc}"
    finally:
        conn.close()


def _without_home(message: str, home: Path) -> str:
    """Where the node keeps its files is nobody's business outside it."""
    return message.replace(f"{home}/", "").replace(str(home), "")


@blueprint.route("/healthz")
def healthz():
    node = current_node()
    problem = probe_database(node.store.path)
    if problem:
        return jsonify(status="unavailable", reason=problem), 503, {"Cache-Control": "no-store"}
    config = {"status": "ok"}
    error = node.config_error
    if error is not None:
        message, since = error
        config = {"status": "last good configuration in force; an edit does not load",
                  "error": _without_home(message, node.home), "since": us_to_taxii(since)}
    return jsonify(status="ok", database="ok", config=config), 200, {"Cache-Control": "no-store"}
