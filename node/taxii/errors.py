"""TAXII error resources (spec 3.6.1) and the one way the blueprint answers.

Every response under /taxii2/, errors included, carries the TAXII media type; an error
body always has `title` and `http_status` (a string equal to the HTTP code).
"""
from __future__ import annotations

import json

from flask import Response

MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
AUTH_CHALLENGE = 'Basic realm="qalqan-taxii", charset="UTF-8"'

TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 413: "Payload Too Large",
    415: "Unsupported Media Type", 422: "Unprocessable Entity", 500: "Internal Server Error",
    503: "Service Unavailable",
}


class TaxiiError(Exception):
    """Raised anywhere in a TAXII view; becomes an error resource."""

    def __init__(self, status: int, description: str, headers: dict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = headers or {}


def unauthorized(description: str = "credentials are missing or not valid") -> TaxiiError:
    return TaxiiError(401, description, {"WWW-Authenticate": AUTH_CHALLENGE})


def not_found() -> TaxiiError:
    # One wording for "absent" and "not yours", so errors reveal nothing.
    return TaxiiError(404, "no such resource")


def taxii_response(body: str, status: int = 200, headers: dict | None = None) -> Response:
    response = Response(body, status=status, headers=headers or {})
    response.headers["Content-Type"] = MEDIA_TYPE
    return response


def json_response(resource: dict, status: int = 200, headers: dict | None = None) -> Response:
    return taxii_response(json.dumps(resource, ensure_ascii=False, separators=(",", ":")), status, headers)


def error_response(status: int, description: str, headers: dict | None = None) -> Response:
    resource = {"title": TITLES.get(status, "Error"), "description": description, "http_status": str(status)}
    return json_response(resource, status, headers)
