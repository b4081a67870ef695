"""The access log: one line per HTTP request, from a WSGI middleware around the app.

In the shape of gunicorn's access log:

    127.0.0.1 peer:uz "GET /taxii2/api/collections/ HTTP/1.1" 200 1432 3.1ms

The caller is whoever the request authenticated as: `peer:NAME` for a TAXII peer,
`user:NAME` for a UI account, `-` for nobody. The views put it in the WSGI environ
under CALLER (`set_caller`), the one place this middleware reads it from.

What is never logged: the query string (a `next` page token, a search term, a
return address may say more than an operator's log should keep), headers (the
Authorization header, cookies), bodies (passwords). The path is logged as sent.

The same measurement feeds the request metrics: `observe(method, route, status,
seconds)` is called once per request, with the route template Flask matched
(ROUTE in the environ, set by the app) so a label never holds an object id.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable

from flask import request

from .logs import get_logger, printable

log = get_logger("node.http")

CALLER = "qalqan.caller"
ROUTE = "qalqan.route"

Observer = Callable[[str, str, int, float], None]


def set_caller(kind: str, name: str) -> None:
    """Record who the current request authenticated as (kind: "peer" or "user")."""
    request.environ[CALLER] = f"{kind}:{name}"


class AccessLog:
    """WSGI middleware: times each request to the last byte of its body, then logs it."""

    def __init__(self, app, observe: Observer | None = None):
        self.app = app
        self.observe = observe

    def __call__(self, environ: dict, start_response):
        started = time.perf_counter()
        seen: dict = {}

        def recording_start_response(status: str, headers, exc_info=None):
            seen["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, recording_start_response)
        except BaseException:
            seen.setdefault("status", 500)
            self._done(environ, seen, 0, started)
            raise
        return _CountedBody(body, lambda sent: self._done(environ, seen, sent, started))

    def _done(self, environ: dict, seen: dict, sent: int, started: float) -> None:
        seconds = time.perf_counter() - started
        status = seen.get("status", 500)
        method = environ.get("REQUEST_METHOD", "-")
        path = environ.get("PATH_INFO", "") or "/"
        fields = {
            "client": environ.get("REMOTE_ADDR", "-"), "caller": environ.get(CALLER, "-"),
            "method": method, "path": path, "protocol": environ.get("SERVER_PROTOCOL", "-"),
            "status": status, "bytes": sent, "duration_ms": round(seconds * 1000, 1),
        }
        # PATH_INFO is decoded: a %0A in a URL must not start a forged log line.
        log.info('%s %s "%s %s %s" %d %d %.1fms', fields["client"], fields["caller"], method,
                 printable(path), fields["protocol"], status, sent, fields["duration_ms"],
                 extra={"fields": fields})
        if self.observe is not None:
            self.observe(method, environ.get(ROUTE) or "unmatched", status, seconds)


class _CountedBody:
    """The response body, passed through while counting its bytes; `done` runs once,
    when the server closes it (after the last byte, or when the client went away)."""

    def __init__(self, body: Iterable[bytes], done: Callable[[int], None]):
        self._body = body
        self._done = done
        self._sent = 0

    def __iter__(self):
        for chunk in self._body:
            self._sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            done, self._done = self._done, None
            if done is not None:
                done(self._sent)
