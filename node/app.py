"""`create_app(home)`: the one Flask app of a node, TAXII 2.1 at /taxii2/ and the
analyst UI at /. There is no global app; tests and `qalqan serve` both build it here."""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from flask import Flask, current_app, request

from .accesslog import ROUTE, AccessLog
from .appctx import current_node
from . import i18n
from .health import blueprint as health_blueprint
from .home import Node
from .logs import get_logger
from .metrics import Metrics
from .metrics import blueprint as metrics_blueprint
from .public import blueprint as public_blueprint
from .misp.routes import blueprint as misp_blueprint
from .taxii import blueprint as taxii_blueprint
from .web import blueprint as web_blueprint

log = get_logger(__name__)


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
        CONFIG_MIN_INTERVAL=1.0,  # seconds between looks at the config files
    )
    if test_config:
        app.config.update(test_config)
    app.extensions["qalqan_node"] = node
    metrics = app.extensions["qalqan_metrics"] = Metrics(node)
    app.wsgi_app = AccessLog(app.wsgi_app, metrics.observe_request)
    app.before_request(_name_route)
    app.before_request(_follow_config_edits)
    i18n.init_app(app)
    _register_blueprints(app)
    return app


def _name_route() -> None:
    """The matched route template, for the request metrics (never the concrete path)."""
    request.environ[ROUTE] = request.url_rule.rule if request.url_rule else "unmatched"


def _follow_config_edits() -> None:
    """Every request sees the feed files and config.yaml as they are now (a reader removed
    or a ceiling lowered takes effect within a second, without a restart). An edit that
    does not load leaves the last good configuration in force (see confwatch.py)."""
    current_node().reload_config_if_changed(current_app.config["CONFIG_MIN_INTERVAL"])


def _register_blueprints(app: Flask) -> None:
    app.register_blueprint(health_blueprint)
    app.register_blueprint(metrics_blueprint)
    app.register_blueprint(taxii_blueprint)
    app.register_blueprint(misp_blueprint)
    app.register_blueprint(web_blueprint)
    app.register_blueprint(public_blueprint)
