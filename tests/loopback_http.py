"""A small HTTP server on 127.0.0.1 that answers with JSON, for tests that stand in for
another vendor's endpoint (a TAXII server that misbehaves, OpenCTI's GraphQL API)."""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator


@contextmanager
def json_server(answer: Callable[[BaseHTTPRequestHandler], tuple[int, object]], method: str = "GET",
                content_type: str = "application/json") -> Iterator[str]:
    """Every `method` request gets `answer(handler)` = (status, body: JSON value or bytes).
    Yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def respond(self):
            status, body = answer(self)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    setattr(Handler, f"do_{method}", Handler.respond)  # http.server's naming
    with serving_handler(Handler) as url:
        yield url


@contextmanager
def serving_handler(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on 127.0.0.1 on a port the OS picks, each request on a daemon
    thread (one that never ends does not hold up the test's end). Yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
