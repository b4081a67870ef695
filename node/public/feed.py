"""The public Atom feed of debunks, built with feedgen (Atom 1.0, RFC 4287)."""
from __future__ import annotations

from datetime import datetime, timezone

from feedgen.feed import FeedGenerator

from ..timefmt import taxii_to_us
from ..i18n import gettext
from .claimreview import VERDICT_WORDS

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def stix_datetime(stamp: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(taxii_to_us(stamp) / 1_000_000, tz=timezone.utc) if stamp else None
    except Exception:
        return None


def atom_feed(*, feed_url: str, index_url: str, organisation: str, language: str | None,
              debunks: list[dict]) -> bytes:
    """`debunks`: rows with incident_id, title, claim, summary, verdict, created, version,
    language, node_name and url (the debunk page), newest first."""
    fg = FeedGenerator()
    fg.id(feed_url)
    fg.title(gettext("Debunks by %(organisation)s (language: %(language)s)", organisation=organisation,
                     language=language) if language else gettext("Debunks by %(organisation)s", organisation=organisation))
    fg.subtitle(gettext("Disinformation incidents at TLP:CLEAR with a verdict, signed by the node that recorded them."))
    fg.author({"name": organisation})
    fg.link(href=feed_url, rel="self", type="application/atom+xml")
    fg.link(href=index_url, rel="alternate", type="text/html")
    if language:
        fg.language(language)
    updated = [stix_datetime(row["version"]) or EPOCH for row in debunks]
    fg.updated(max(updated, default=EPOCH))  # never "now": the same debunks give the same bytes (ETag)
    for row, when in zip(debunks, updated):
        entry = fg.add_entry(order="append")
        entry.id(row["url"])
        verdict = gettext(VERDICT_WORDS[row["verdict"]]) if row["verdict"] in VERDICT_WORDS else row["verdict"]
        entry.title(f"{verdict}: {row['title'] or row['incident_id']}")
        entry.link(href=row["url"], rel="alternate", type="text/html")
        entry.summary(_summary(row, verdict))
        entry.updated(when)
        published = stix_datetime(row["created"])
        if published:
            entry.published(published)
        entry.author({"name": row["node_name"] or organisation})
        entry.category(term=row["verdict"], label=verdict)
        if row["language"]:
            entry.category(term=f"lang:{row['language']}", label=row["language"])
    return fg.atom_str(pretty=True)


def _summary(row: dict, verdict: str) -> str:
    claim = gettext("Claim: %(claim)s", claim=row["claim"]) + "\n" if row["claim"] else ""
    return (claim + gettext("Verdict: %(verdict)s", verdict=verdict) + "\n" + (row["summary"] or "")).strip()
