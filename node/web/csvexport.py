"""The incident list as CSV: every incident the list's filters match, not one page.

Cells are text a partner chose, so a cell a spreadsheet would read as a formula
(starting with =, +, -, @, a tab or a carriage return) is prefixed with an apostrophe."""
from __future__ import annotations

import csv
import dataclasses
import io
from typing import Iterator

from ..store import Store
from ..timefmt import us_to_taxii
from .index import Filters, list_incidents

COLUMNS = ("incident_id", "case_id", "title", "verdict", "tlp", "language", "first_seen", "platforms",
           "target_countries", "disarm", "source_node", "received")
BATCH = 1000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _line(values) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([_cell(v) for v in values])
    return out.getvalue()


def _record(row: dict) -> list:
    terms = row.get("terms", {})
    node = f"{row['node_name']} ({row['node_country']})" if row.get("node_name") else row.get("created_by")
    return [row["incident_id"], row["case_id"], row["title"], row["verdict"], row["tlp"], row["language"],
            row["first_seen"], " ".join(terms.get("platform", [])), " ".join(terms.get("country", [])),
            " ".join(terms.get("technique", [])), node,
            us_to_taxii(row["received"]) if isinstance(row["received"], int) else row["received"]]


def incidents_csv(store: Store, filters: Filters) -> Iterator[str]:
    """The header, then one line per matching incident, newest first, read in batches."""
    yield _line(COLUMNS)
    batch = dataclasses.replace(filters, before=None, limit=BATCH)
    while True:
        rows = list_incidents(store, batch)
        for row in rows[:BATCH]:
            yield _line(_record(row))
        if len(rows) <= BATCH:
            return
        batch = dataclasses.replace(batch, before=rows[BATCH - 1]["n"])
