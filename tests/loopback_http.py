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
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
