"""Pushing to a peer's push feeds: this node's own objects and, onward, those it relays.

The outbox is a per-peer cursor over `feed_entries.seq`: every object published in a
feed the peer may read (so nothing is pushed that the peer could not pull anyway) and
not yet posted. That is this node's own objects and, unless `sync.push_relayed` is
false, partners' objects the relay rule (node/policy.py) put in such a feed, so they
travel on within seconds instead of at the peer's next pull; policy.may_push keeps
push from returning any of them to a peer that sent it here or to its creator. The
cursor moves only after every push feed of the peer took the batch, so a failure or a
crash means "post again" (the receiver treats a repeat as a duplicate). SQLite
serialises writers, so `seq` is committed in order and the cursor never skips an
entry that commits later. An entry above its feed's current TLP ceiling (lowered
after it was published) is walked over and never pushed, as TAXII reads hide it.
Partners' objects go out as their stored canonical bytes, with their authors'
signatures: nothing here re-serialises or re-signs.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config import Feed, Peer
from ..home import Node
from ..ingest import BUILTIN, REFERENCE
from ..policy import may_carry, may_push
from ..store import OWN, Store
from .client import PeerClient

BATCH = 500
# In feeds but never pushed: the well-known objects every node ships (the receiver has
# them) and unsigned reference data such as the DISARM release (a Qalqan node refuses it).
NOT_PUSHED = frozenset({BUILTIN, REFERENCE})


@dataclass
class PushCounts:
    posted: int = 0
    relayed: int = 0  # of `posted`, partners' objects pushed onward
    refused: int = 0  # objects the peer's server answered with a failure (its policy; not retried)


@dataclass
class Batch:
    texts: list[str]  # canonical JSON of the objects to post, in feed order
    relayed: int      # how many of them are partners' objects
    seq: int | None   # the cursor to save once they are posted; None: nothing pending


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
    """(canonical JSON of the objects not yet pushed to `peer`, the seq to save once they are)."""
    batch = pending_batch(node, peer, limit)
    return batch.texts, batch.seq


def pending_batch(node: Node, peer: str, limit: int = BATCH) -> Batch:
    feeds = readable_feeds(node, peer)
    if not feeds:
        return Batch([], 0, None)
    marks = ", ".join("?" * len(feeds))
    # Every entry is walked, pushed or not, so the cursor passes each once.
    rows = node.store.query(
        "SELECT e.seq, e.feed, e.id, e.version, e.tlp, o.origin, o.source, o.created_by,"
        " EXISTS (SELECT 1 FROM peer_copies c WHERE c.id = e.id AND c.version = e.version AND c.peer = ?) AS copy"
        " FROM feed_entries e JOIN objects o ON o.id = e.id AND o.version = e.version"
        f" WHERE e.seq > ? AND e.feed IN ({marks}) AND e.deleted = 0"
        " ORDER BY e.seq LIMIT ?", [peer, _cursor(node.store, peer), *feeds, limit])
    if not rows:
        return Batch([], 0, None)
    relay, identity = bool(node.config["sync.push_relayed"]), node.peer_identity(peer)
    chosen: dict[tuple[str, str], bool] = {}  # (id, version) → relayed; each once, in feed order
    for row in rows:
        key = (row["id"], row["version"])
        if key not in chosen and _goes(row, feeds, peer, identity, relay):
            chosen[key] = row["origin"] != OWN
    texts = [node.store.object_json(oid, version) for oid, version in chosen]
    return Batch(texts, sum(chosen.values()), rows[-1]["seq"])


def _goes(row: dict, feeds: dict[str, Feed], peer: str, identity: str | None, relay: bool) -> bool:
    # The feed's ceiling as it is now, the same check a TAXII read makes.
    if not may_carry(feeds[row["feed"]].max_tlp, row["tlp"]) or row["origin"] in NOT_PUSHED:
        return False
    if row["origin"] != OWN and not relay:
        return False
    sent_by = {row["source"], peer} if row["copy"] else {row["source"]}
    return may_push(peer, identity, row["created_by"], sent_by)


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
        batch = pending_batch(node, peer.name)
        if batch.seq is None:
            return total
        if batch.texts:
            body = envelope(batch.texts)
            for collection in collections:
                status = client.post(collection, body)
                total.refused += status["failure_count"] or 0
            total.posted += len(batch.texts)
            total.relayed += batch.relayed
        _save_cursor(node.store, peer.name, batch.seq)
