"""Pushing this node's own objects to a peer's push feeds.

The outbox is a per-peer cursor over `feed_entries.seq`: every own object published
in a feed the peer may read (so nothing is pushed that the peer could not pull
anyway) and not yet posted. The cursor moves only after every push feed of the
peer took the batch, so a failure or a crash means "post again" (the receiver
treats a repeat as a duplicate). SQLite serialises writers, so `seq` is committed
in order and the cursor never skips an entry that commits later. An entry above its
feed's current TLP ceiling (lowered after it was published) is walked over and never
pushed, as TAXII reads hide it.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config import Feed, Peer
from ..home import Node
from ..policy import may_carry
from ..store import Store
from .client import PeerClient

BATCH = 500


@dataclass
class PushCounts:
    posted: int = 0
    refused: int = 0  # objects the peer's server answered with a failure (its policy; not retried)


def _cursor(store: Store, peer: str) -> int:
    row = store.one("SELECT seq FROM push_cursors WHERE peer = ?", [peer])
    return row["seq"] if row else 0


def _save_cursor(store: Store, peer: str, seq: int) -> None:
    with store.transaction():
        store.conn.execute("INSERT INTO push_cursors (peer, seq) VALUES (?, ?) ON CONFLICT (peer) DO UPDATE "
                           "SET seq = MAX(seq, excluded.seq)", [peer, seq])


def readable_feeds(node: Node, peer: str) -> dict[str, Feed]:
    """The feeds the peer may read now, by id."""
    return {f.id: f for f in node.config.feeds.values() if f.may_read(peer)}


def pending(node: Node, peer: str, limit: int = BATCH) -> tuple[list[str], int | None]:
    """(canonical JSON of own objects not yet pushed, the seq to save once they are)."""
    feeds = readable_feeds(node, peer)
    if not feeds:
        return [], None
    marks = ", ".join("?" * len(feeds))
    # Entries of other origins are walked over too, so the cursor passes them once.
    rows = node.store.query(
        "SELECT e.seq, e.feed, e.id, e.version, e.tlp, CASE WHEN o.origin = 'own' THEN o.json END AS json"
        " FROM feed_entries e JOIN objects o ON o.id = e.id AND o.version = e.version"
        f" WHERE e.seq > ? AND e.feed IN ({marks}) AND e.deleted = 0"
        " ORDER BY e.seq LIMIT ?", [_cursor(node.store, peer), *feeds, limit])
    if not rows:
        return [], None
    seen, texts = set(), []
    for row in rows:
        # The feed's ceiling as it is now, the same check a TAXII read makes.
        if not may_carry(feeds[row["feed"]].max_tlp, row["tlp"]):
            continue
        if row["json"] is not None and (row["id"], row["version"]) not in seen:
            seen.add((row["id"], row["version"]))
            texts.append(row["json"])
    return texts, rows[-1]["seq"]


def envelope(texts: list[str]) -> bytes:
    # The stored canonical bytes go out as they are: nothing re-serialises a signed object.
    return ('{"objects":[' + ",".join(texts) + "]}").encode("utf-8")


def push_peer(node: Node, peer: Peer, client: PeerClient) -> PushCounts:
    """Post everything pending to each of the peer's push feeds; raises on a transport failure."""
    total = PushCounts()
    if not peer.push:
        return total
    collections = [client.collection(ref) for ref in peer.push]
    while True:
        texts, seq = pending(node, peer.name)
        if seq is None:
            return total
        if texts:
            body = envelope(texts)
            for collection in collections:
                status = client.post(collection, body)
                total.refused += status["failure_count"] or 0
            total.posted += len(texts)
        _save_cursor(node.store, peer.name, seq)
