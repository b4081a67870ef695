"""`create_app(home)`: the one Flask app of a node, TAXII 2.1 at /taxii2/ and the
analyst UI at /. There is no global app; tests and `qalqan serve` both build it here."""
from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

from flask import Flask
from werkzeug.exceptions import ServiceUnavailable

from .errors import ConfigError
from .appctx import current_node
from .home import Node
from .taxii import blueprint as taxii_blueprint
from .web import blueprint as web_blueprint

log = logging.getLogger(__name__)


def _secret_key(home: Path) -> bytes:
    """The session-signing key, made once per home and kept 0600 beside the node key."""
    path = home / "keys" / "web.secret"
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    return path.read_bytes()


def create_app(home: Path | str, test_config: dict | None = None) -> Flask:
    node = Node(Path(home))
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=_secret_key(node.home),
        MAX_CONTENT_LENGTH=int(node.config["server.max_content_length"]),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(node.config["server.tls_cert"]),
        JSON_AS_ASCII=False,
    )
    if test_config:
        app.config.update(test_config)
    app.extensions["qalqan_node"] = node
    app.before_request(_follow_config_edits)
    _register_blueprints(app)
    return app


def _follow_config_edits() -> None:
    """Every request sees the feed files and config.yaml as they are now (a reader removed
    or a ceiling lowered takes effect within a second, without a restart). While the files
    do not load, requests are refused rather than served under the replaced rules."""
    try:
        current_node().reload_config_if_changed()
    except ConfigError as exc:
        log.error("configuration not reloaded, refusing requests until it is fixed: %s", exc.message)
        raise ServiceUnavailable("the node's configuration is being changed; try again shortly") from None


def _register_blueprints(app: Flask) -> None:
    app.register_blueprint(taxii_blueprint)
    app.register_blueprint(web_blueprint)
