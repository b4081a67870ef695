"""Pulling a peer's feeds: `added_after` cursor, follow `next`, ingest each page.

A page's objects, the peer's counts and the new cursor are written in ONE
transaction: a crash before the commit loses the page and the cursor together
(the page is fetched again), a crash after it loses nothing. Ingest is idempotent,
so a page fetched twice (e.g. by `serve` and `qalqan sync` at once) is harmless.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from taxii2client.exceptions import AccessError

from ..config import Peer
from ..errors import PeerError
from ..home import Node
from ..ingest import ACCEPTED, DUPLICATE, QUARANTINED, REJECTED, Door
from ..store import Store
from ..timefmt import taxii_to_us, us_to_taxii
from . import health
from .client import Page, PeerClient
from .prefetch import prefetched

DEFAULT_PAGE_SIZE = 1000


@dataclass
class PullCounts:
    received: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {ACCEPTED: 0, DUPLICATE: 0, QUARANTINED: 0, REJECTED: 0})

    def add(self, received: int, counts: dict[str, int]) -> None:
        self.received += received
        for key, value in counts.items():
            self.counts[key] += value


def load_cursor(store: Store, peer: str, feed: str) -> str | None:
    row = store.one("SELECT added_after FROM cursors WHERE peer = ? AND feed = ?", [peer, feed])
    return row["added_after"] if row else None


def _save_cursor(store: Store, peer: str, feed: str, added_after: str) -> None:
    """Only ever forward: two pullers of one peer must not undo each other's progress."""
    held = load_cursor(store, peer, feed)
    if held is not None and taxii_to_us(held) >= taxii_to_us(added_after):
        return
    store.conn.execute("INSERT OR REPLACE INTO cursors (peer, feed, added_after) VALUES (?, ?, ?)",
                       [peer, feed, added_after])


def cursor_after(page: Page, peer: Peer) -> str | None:
    """Where the next pull starts. A signed peer (a Qalqan node) gives every object a
    distinct date_added, so the page's last one is exact. Other servers (medallion)
    give one date_added to a whole POST: start 1 µs earlier and take the objects that
    share it again (duplicates) rather than lose those the page did not hold."""
    if page.date_added_last is None:
        return None
    if peer.signed:
        return page.date_added_last
    return us_to_taxii(taxii_to_us(page.date_added_last) - 1)


def pull_peer(node: Node, peer: Peer, client: PeerClient, page_size: int = DEFAULT_PAGE_SIZE,
              into: PullCounts | None = None) -> PullCounts:
    """Pull every feed of the peer's `pull` list. A feed the peer does not offer this
    node is that feed's problem: the others are still pulled, then the error is raised.
    A transport failure ends the pull at once (the next feeds would only time out too)."""
    total = into if into is not None else PullCounts()
    unavailable: list[Exception] = []
    for ref in peer.pull:
        try:
            collection = client.collection(ref)
            added_after = load_cursor(node.store, peer.name, collection.id)
            for page in prefetched(client.pages(collection, added_after, page_size)):
                total.add(len(page.objects), _ingest_page(node, peer, collection.id, page))
        except (PeerError, AccessError) as exc:
            unavailable.append(exc)
    if unavailable:
        raise unavailable[0]
    return total


def _ingest_page(node: Node, peer: Peer, feed_id: str, page: Page) -> dict[str, int]:
    with node.store.transaction():
        summary = node.ingest.run(page.objects, Door.for_peer(peer.name, peer), batch=len(page.objects) + 1,
                                  keep_outcomes=False)
        counts = dict(summary.counts)
        health.add_counts(node.store, peer.name, {
            "received": len(page.objects), "accepted": counts[ACCEPTED], "duplicates": counts[DUPLICATE],
            "quarantined": counts[QUARANTINED], "rejected": counts[REJECTED]})
        cursor = cursor_after(page, peer)
        if cursor is not None:
            _save_cursor(node.store, peer.name, feed_id, cursor)
    return counts
