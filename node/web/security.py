"""Response headers of every UI page: no inline scripts or styles, no framing."""
from __future__ import annotations

from flask import Response, render_template, request
from werkzeug.exceptions import HTTPException

from ..errors import QalqanError
from ..i18n import gettext, http_error_words
from ..logs import get_logger
from . import blueprint

log = get_logger(__name__)

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))


def set_security_headers(response: Response) -> Response:
    """The headers every page of the node carries, the public pages' included. A JSON-LD
    block (`<script type="application/ld+json">`) is data, never run, so script-src does
    not apply to it: the public pages need no exception to this policy."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@blueprint.after_request
def add_security_headers(response: Response) -> Response:
    set_security_headers(response)
    if response.mimetype == "text/html":
        # Pages show TLP-marked material: keep them out of shared caches and history files.
        response.headers["Cache-Control"] = "no-store"
    return response

@blueprint.errorhandler(403)
@blueprint.errorhandler(404)
def error_page(error):
    name, description = http_error_words(error)
    return render_template("error.html", code=error.code, name=name, description=description), error.code


@blueprint.errorhandler(QalqanError)
def refused_page(error: QalqanError):
    """A library refusal that reached a view: its one sentence, with its status."""
    log.warning("UI %s %s answered %d: %s", request.method, request.path, error.http_status, error.message)
    return render_template("error.html", code=error.http_status, name=gettext("Not possible"),
                           description=error.message), error.http_status


@blueprint.errorhandler(Exception)
def failure_page(error: Exception):
    """Any other HTTP error gets the same page; anything unexpected is logged with its
    traceback and answered 500, without details for the browser."""
    if isinstance(error, HTTPException):
        return error if error.code is None else error_page(error)
    log.exception("UI request failed: %s %s", request.method, request.path)
    return render_template("error.html", code=500, name=gettext("Internal Server Error"),
                           description=gettext("Something went wrong on the server; the error is in its log.")), 500
