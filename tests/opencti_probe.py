"""pycti's own code on a list of STIX objects, run in the separate pycti environment.

pycti pins setuptools ~=82 and misp-stix needs >=83, so they cannot share `.venv`:
`scripts/setup.sh` gives pycti `.venv-pycti`, and the OpenCTI tests run this script
there (opencti_fixtures.run_pycti). It reads a JSON list of objects on stdin and
prints JSON on stdout:

  split   → {"incompatible": n, "kept": [objects pycti's bundle splitter keeps]}
  import  → {"mutations": [[operation, variables], ...]} that pycti's STIX import sends
            to the GraphQL recorder (opencti_fixtures.GraphqlRecorder)
"""
from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from opencti_fixtures import pycti_client  # noqa: E402


def bundle(objects: list[dict]) -> dict:
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}


def split(objects: list[dict]) -> dict:
    from pycti import OpenCTIStix2Splitter
    _, incompatible, bundles = OpenCTIStix2Splitter().split_bundle_with_expectations(
        bundle(objects), use_json=False, cleanup_inconsistent_bundle=True)
    return {"incompatible": len(incompatible), "kept": [o for b in bundles for o in b["objects"]]}


def import_bundle(objects: list[dict]) -> dict:
    with pycti_client() as (client, recorder):
        client.stix2.import_bundle(bundle(objects))
    return {"mutations": recorder.mutations}


def main() -> None:
    objects = json.load(sys.stdin)
    result = {"split": split, "import": import_bundle}[sys.argv[1]](objects)
    json.dump(result, sys.stdout, default=str)


if __name__ == "__main__":
    main()
