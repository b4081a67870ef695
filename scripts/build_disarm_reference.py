#!/usr/bin/env python3
"""Build the compact DISARM reference that ships inside the package.

    scripts/build_disarm_reference.py DISARM.json [-o node/data/disarm-reference.json]

Reads a DISARM Foundation STIX bundle (CC BY-SA 4.0) and writes what a node needs to
know DISARM with no download: release facts, attribution and licence, tactics,
techniques (id, name, tactics, the release's STIX id) and countermeasures by id and
name. Never descriptions, never a copy of the bundle. The rules are node.disarm's
(`parse_bundle`, `compact_reference`), the same that judge a bundle named in config.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.disarm import NotADisarmBundle, compact_reference, parse_bundle  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "node" / "data" / "disarm-reference.json"


def to_text(reference: dict) -> str:
    """JSON with one tactic, technique or countermeasure per line, so a new release
    reads as a short diff."""
    lines = []
    for key, value in reference.items():
        if isinstance(value, list):
            items = ",\n".join("  " + json.dumps(v, ensure_ascii=False) for v in value)
            lines.append(f" {json.dumps(key)}: [\n{items}\n ]" if value else f" {json.dumps(key)}: []")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    text = "{\n" + ",\n".join(lines) + "\n}\n"
    assert json.loads(text) == reference
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, help="a DISARM STIX 2.1 bundle (DISARM.json)")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    raw = args.bundle.read_bytes()
    try:
        reference = compact_reference(parse_bundle(raw), source_sha256=hashlib.sha256(raw).hexdigest())
    except NotADisarmBundle as exc:
        print(f"build_disarm_reference: {args.bundle} {exc}", file=sys.stderr)
        return 2
    text = to_text(reference)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, "utf-8")
    print(f"{args.output}: {len(reference['tactics'])} tactics, {len(reference['techniques'])} techniques, "
          f"{len(reference['countermeasures'])} countermeasures, {len(text.encode())} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
