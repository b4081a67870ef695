"""Response headers of every UI page: no inline scripts or styles, no framing."""
from __future__ import annotations

from flask import Response, render_template

from . import blueprint

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


@blueprint.after_request
def add_security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    if response.mimetype == "text/html":
        # Pages show TLP-marked material: keep them out of shared caches and history files.
        response.headers["Cache-Control"] = "no-store"
    return response

@blueprint.errorhandler(403)
@blueprint.errorhandler(404)
def error_page(error):
    return render_template("error.html", code=error.code, name=error.name, description=error.description), error.code
