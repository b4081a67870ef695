"""TAXII resources built as text: envelopes, manifests, version lists, date headers.

Manifests and version lists give an entry's `stamp` (the object's own modified or
created string, see queries.add_stamps) where the caller set it.

Objects are spliced in as the stored canonical JSON, never re-serialised, so their
signatures still verify when they arrive.
"""
from __future__ import annotations

import json

from ..timefmt import us_to_taxii
from .errors import STIX_MEDIA_TYPE
from .queries import Page


def date_headers(page: Page, after: int | None) -> dict:
    if page.entries:
        first, last = page.entries[0]["date_added"], page.entries[-1]["date_added"]
    else:
        # An empty page names the position reached, so added_after paging can go on from it.
        first = last = page.position if page.position is not None else (after or 0)
    return {"X-TAXII-Date-Added-First": us_to_taxii(first), "X-TAXII-Date-Added-Last": us_to_taxii(last)}


def _paging_fields(page: Page, token: str | None) -> str:
    if page.more:
        return '"more":true,"next":' + json.dumps(token)
    return '"more":false'


def envelope(page: Page, token: str | None) -> str:
    if not page.entries and not page.more:
        return "{}"
    body = "{" + _paging_fields(page, token)
    if page.entries:
        # Stored canonical bytes are served verbatim: signatures stay valid.
        body += ',"objects":[' + ",".join(e["json"] for e in page.entries) + "]"
    return body + "}"


def manifest(page: Page, token: str | None) -> str:
    if not page.entries and not page.more:
        return "{}"
    records = [{"id": e["id"], "date_added": us_to_taxii(e["date_added"]), "version": e.get("stamp", e["version"]),
                "media_type": STIX_MEDIA_TYPE} for e in page.entries]
    body = "{" + _paging_fields(page, token)
    if records:
        body += ',"objects":' + json.dumps(records, separators=(",", ":"))
    return body + "}"


def versions(page: Page, token: str | None) -> str:
    if not page.entries and not page.more:
        return "{}"
    body = "{" + _paging_fields(page, token)
    if page.entries:
        body += ',"versions":' + json.dumps([e.get("stamp", e["version"]) for e in page.entries])
    return body + "}"
