"""pycti (OpenCTI's Python client) run for real against a recorder on 127.0.0.1.

pycti's STIX import (`OpenCTIApiClient.stix2.import_bundle`) maps each STIX object onto
the GraphQL mutation the OpenCTI platform would receive; no OpenCTI server runs here, so
`GraphqlRecorder` stands in for its HTTP endpoint: it records each mutation's input and
answers with a bare id. What a test asserts is pycti's own mapping of our objects."""
from __future__ import annotations

import json
import re
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from loopback_http import json_server

PYCTI_PYTHON = Path(__file__).resolve().parent.parent / ".venv-pycti" / "bin" / "python"
PROBE = Path(__file__).resolve().parent / "opencti_probe.py"
OPERATION = re.compile(r"(mutation|query)\s+(\w+)[^{]*\{\s*(\w+)")


def run_pycti(action: str, objects: list[dict]) -> dict:
    """opencti_probe.py's `split` or `import` on `objects`, in pycti's own environment."""
    assert PYCTI_PYTHON.exists(), f"{PYCTI_PYTHON} is missing: run ./scripts/setup.sh"
    out = subprocess.run([str(PYCTI_PYTHON), str(PROBE), action], input=json.dumps(objects),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


class GraphqlRecorder:
    def __init__(self, mutations: list | None = None):
        self.mutations: list[tuple[str, dict]] = mutations or []  # (operation name, variables)

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

    def answer(handler):
        return 200, recorder.answer(json.loads(handler.rfile.read(int(handler.headers["Content-Length"]))))

    with json_server(answer, method="POST") as url:
        yield OpenCTIApiClient(url, "recorder-token", perform_health_check=False, log_level="error"), recorder
