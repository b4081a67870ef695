#!/usr/bin/env python3
"""Build the compact DISARM reference that ships inside the package.

    scripts/build_disarm_reference.py DISARM.json [--countermeasures counters_index.md]
                                      [-o node/data/disarm-reference.json]

Reads a DISARM Foundation STIX bundle (CC BY-SA 4.0) and writes what a node needs to
know DISARM with no download: release facts, attribution and licence, tactics,
techniques (id, name, tactics, the release's STIX id) and countermeasures by id and
name. Never descriptions, never a copy of the bundle. The rules are node.disarm's
(`parse_bundle`, `compact_reference`), the same that judge a bundle named in config.

DISARM's STIX bundles carry no countermeasures (course-of-action objects) so far;
`--countermeasures` reads them from DISARM's countermeasure table instead: the
`generated_pages/counters_index.md` of the DISARMframeworks repository (an HTML table
whose first two columns are the id and the name) or a CSV with `disarm_id` and `name`
columns (its `DISARM_MASTER_DATA/countermeasures.csv`). Only those two columns are read.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.disarm import COUNTERMEASURE_RE, NotADisarmBundle, compact_reference, parse_bundle  # noqa: E402

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


class _TableRows(HTMLParser):
    """The text of each cell, row by row, of the HTML tables in a page."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th") and self.rows:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def countermeasure_table(text: str) -> list[dict]:
    """{id, name} of each countermeasure in DISARM's table (HTML or CSV); nothing else."""
    if text.lstrip().startswith("disarm_id"):
        rows = [[row.get("disarm_id") or "", row.get("name") or ""] for row in csv.DictReader(io.StringIO(text))]
    else:
        parser = _TableRows()
        parser.feed(text)
        rows = parser.rows
    table = {}
    for row in rows:
        if len(row) >= 2 and COUNTERMEASURE_RE.match(row[0].strip()) and row[1].strip():
            table.setdefault(row[0].strip(), " ".join(row[1].split()))
    return [{"id": cid, "name": name} for cid, name in sorted(table.items())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, help="a DISARM STIX 2.1 bundle (DISARM.json)")
    parser.add_argument("--countermeasures", type=Path, metavar="TABLE",
                        help="DISARM's countermeasure table (counters_index.md or countermeasures.csv)")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    raw = args.bundle.read_bytes()
    table = None
    if args.countermeasures is not None:
        table_raw = args.countermeasures.read_bytes()
        table = countermeasure_table(table_raw.decode("utf-8"))
        if not table:
            print(f"build_disarm_reference: {args.countermeasures} holds no countermeasures (ids such as C00008)",
                  file=sys.stderr)
            return 2
    try:
        reference = compact_reference(parse_bundle(raw), source_sha256=hashlib.sha256(raw).hexdigest(),
                                      countermeasure_table=table)
    except NotADisarmBundle as exc:
        print(f"build_disarm_reference: {args.bundle} {exc}", file=sys.stderr)
        return 2
    if table is not None:
        reference["release"]["countermeasures_sha256"] = hashlib.sha256(table_raw).hexdigest()
    text = to_text(reference)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, "utf-8")
    print(f"{args.output}: {len(reference['tactics'])} tactics, {len(reference['techniques'])} techniques, "
          f"{len(reference['countermeasures'])} countermeasures, {len(text.encode())} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
