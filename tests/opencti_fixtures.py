"""pycti (OpenCTI's Python client) run for real against a recorder on 127.0.0.1.

pycti's STIX import (`OpenCTIApiClient.stix2.import_bundle`) maps each STIX object onto
the GraphQL mutation the OpenCTI platform would receive; no OpenCTI server runs here, so
`GraphqlRecorder` stands in for its HTTP endpoint: it records each mutation's input and
answers with a bare id. What a test asserts is pycti's own mapping of our objects."""
from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

OPERATION = re.compile(r"(mutation|query)\s+(\w+)[^{]*\{\s*(\w+)")


class GraphqlRecorder:
    def __init__(self):
        self.mutations: list[tuple[str, dict]] = []  # (operation name, variables)

    def inputs(self, operation: str) -> list[dict]:
        return [v.get("input", v) for name, v in self.mutations if name == operation]

    def answer(self, body: dict) -> dict:
        match = OPERATION.search(body.get("query", ""))
        if match is None:
            return {"data": None}
        kind, name, field = match.groups()
        if kind == "mutation":
            self.mutations.append((name, body.get("variables") or {}))
            return {"data": {field: {"id": f"recorded-{len(self.mutations)}", "entity_type": name}}}
        return {"data": {field: []}}  # reads (vocabularies, look-ups) find nothing


@contextmanager
def pycti_client() -> Iterator[tuple[object, GraphqlRecorder]]:
    from pycti import OpenCTIApiClient
    recorder = GraphqlRecorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            data = json.dumps(recorder.answer(body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = OpenCTIApiClient(f"http://127.0.0.1:{server.server_port}", "recorder-token",
                                  perform_health_check=False, log_level="error")
        yield client, recorder
    finally:
        server.shutdown()
        server.server_close()
