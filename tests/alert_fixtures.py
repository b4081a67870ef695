"""Real endpoints for the alert tests, all on 127.0.0.1: an SMTP server (aiosmtpd) that
keeps what it receives, and an HTTP receiver (http.server in a thread) that checks each
webhook call's signature as a partner's receiver would (docs/alerts.md), can be down at
first and come up later on the same port, and also takes apprise's json:// posts."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from sync_fixtures import free_port


class SmtpSink:
    """aiosmtpd on a free loopback port; `messages` are the e-mails it received."""

    def __init__(self):
        self.port = free_port()
        self.messages: list = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def __enter__(self) -> "SmtpSink":
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()


class Receiver:
    """An HTTP endpoint recording each POST: (headers, body, whether its signature checks
    out under `secret`). `start()` may come after the node first tried it."""

    def __init__(self, port: int | None = None, status: int = 200):
        self.port = port or free_port()
        self.status = status
        self.secret: str | None = None
        self.calls: list[dict] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/qalqan"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.calls.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                       "valid": receiver.verifies(self.headers.get("X-Qalqan-Signature", ""), body)})
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="test-receiver").start()
        return self

    def verifies(self, header: str, body: bytes) -> bool:
        """The check docs/alerts.md tells receivers to make, in constant time."""
        if self.secret is None:
            return False
        expected = "sha256=" + hmac.new(self.secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, header)

    def json_bodies(self) -> list[dict]:
        return [json.loads(call["body"]) for call in self.calls]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def fast_alerts(smtp_port: int | None = None) -> dict:
    """alerts.* settings for tests: short waits, and the test SMTP server if given."""
    settings = {"poll": 0.2, "retry_after": 0.5, "max_retry_after": 1, "max_attempts": 30, "timeout": 3}
    if smtp_port:
        settings["smtp"] = {"host": "127.0.0.1", "port": smtp_port, "tls": "none", "from": "alerts@uz.example"}
    return settings
