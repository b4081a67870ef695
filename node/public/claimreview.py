"""schema.org ClaimReview markup of one public debunk, as JSON-LD for the page's
`<script type="application/ld+json">` block: what search engines and fact-check
aggregators (Google Fact Check Explorer, ClaimReview feeds) read from a debunk page.

Follows Google's fact-check markup: claimReviewed, reviewRating with alternateName
(the verdict in words), url, author (an Organization with a name) are required;
datePublished and itemReviewed (the Claim, with where it appeared) are recommended.
"""
from __future__ import annotations

import json

from ..incident import VERDICT_LABELS

# The verdict on a 1 (false) to 5 (true) scale, as ClaimReview publishers number it;
# alternateName carries the verdict itself, which is what readers are shown.
RATINGS = {"false": 1, "fabricated": 1, "manipulated": 2, "misleading": 2, "satire": 3}
# The markup's words stay English (readers see the page's words in their language).
VERDICT_WORDS = {verdict: VERDICT_LABELS[verdict] for verdict in RATINGS}


def claim_review(*, page_url: str, claim: str, verdict: str, organisation: str, organisation_url: str | None,
                 published: str, language: str | None, first_seen: str | None, spread_urls: list[str]) -> dict:
    """The ClaimReview of one debunk; dates are STIX timestamps (ISO 8601)."""
    item = {"@type": "Claim"}
    if first_seen:
        item["datePublished"] = first_seen[:10]
    if spread_urls:
        item["appearance"] = [{"@type": "CreativeWork", "url": u} for u in spread_urls]
        item["firstAppearance"] = {"@type": "CreativeWork", "url": spread_urls[0]}
    review = {
        "@context": "https://schema.org",
        "@type": "ClaimReview",
        "url": page_url,
        "claimReviewed": claim,
        "datePublished": published[:10],
        "author": {"@type": "Organization", "name": organisation,
                   **({"url": organisation_url} if organisation_url else {})},
        "reviewRating": {"@type": "Rating", "ratingValue": RATINGS.get(verdict, 1), "bestRating": 5,
                         "worstRating": 1, "alternateName": VERDICT_WORDS.get(verdict, verdict)},
        "itemReviewed": item,
    }
    if language:
        review["inLanguage"] = language
    return review


def json_ld(data: dict) -> str:
    """JSON for an HTML script block: `</` written as `<\\/` (and `<!--` as `<\\u0021--`), so
    no text in a claim can close the block or open an HTML comment; JSON reads both back."""
    text = json.dumps(data, ensure_ascii=False, indent=1)
    return text.replace("</", "<\\/").replace("<!--", "<\\u0021--")
