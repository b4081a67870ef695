"""Content negotiation (spec 1.6.8): which Accept and Content-Type headers we serve."""
from __future__ import annotations

from .errors import TaxiiError

TAXII = "application/taxii+json"


def _media_ranges(header: str) -> list[tuple[str, dict[str, str]]]:
    ranges = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0]:
            continue
        params = {}
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        ranges.append((pieces[0].lower(), params))
    return ranges


def _is_taxii_21(media: str, params: dict[str, str]) -> bool:
    # Bare application/taxii+json means "the latest version", which is 2.1 here.
    return media == TAXII and params.get("version", "2.1") == "2.1" and params.get("q", "1") not in ("0", "0.0")


def check_accept(header: str | None) -> None:
    """406 unless the client accepts TAXII 2.1 (a missing Accept is tolerated)."""
    if header is None or not header.strip():
        return
    if not any(_is_taxii_21(media, params) for media, params in _media_ranges(header)):
        raise TaxiiError(406, "this server answers only with application/taxii+json;version=2.1")


def check_content_type(header: str | None) -> None:
    """415 unless the body is declared as a TAXII 2.1 envelope."""
    ranges = _media_ranges(header or "")
    if len(ranges) != 1 or not _is_taxii_21(*ranges[0]):
        raise TaxiiError(415, "the body must be sent as application/taxii+json;version=2.1")
