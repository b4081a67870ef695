"""One sync round: push then pull with every peer, each peer in its own thread.

A peer that is down fails fast; one that hangs fails after `sync.timeout` per
request. Either way the other peers' threads are not held up.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..config import Peer
from ..home import Node
from . import health
from .client import PeerClient, describe
from .pull import DEFAULT_PAGE_SIZE, PullCounts, pull_peer
from .push import PushCounts, push_peer


@dataclass
class PeerResult:
    peer: str
    pulled: PullCounts
    pushed: PushCounts
    error: str | None = None

    def line(self) -> str:
        c = self.pulled.counts
        text = (f"peer {self.peer}: received {self.pulled.received}, accepted {c['accepted']}, "
                f"duplicate {c['duplicate']}, quarantined {c['quarantined']}, rejected {c['rejected']}; "
                f"pushed {self.pushed.posted}")
        return text + ("; FAILED (see stderr)" if self.error else "")


def sync_peer(node: Node, peer: Peer, page_size: int = DEFAULT_PAGE_SIZE) -> PeerResult:
    """Push pending own objects, then pull; a failure is recorded in the peers table, not raised."""
    result = PeerResult(peer.name, PullCounts(), PushCounts())
    client = PeerClient(peer, float(node.config["sync.timeout"]))
    health.attempted(node.store, peer.name)
    try:
        result.pushed = push_peer(node, peer, client)
        pull_peer(node, peer, client, page_size, into=result.pulled)
    except Exception as exc:  # noqa: BLE001 - any failure of one peer is that peer's error, not the round's
        result.error = describe(exc)
        health.failed(node.store, peer.name, result.error)
    else:
        health.succeeded(node.store, peer.name)
    finally:
        client.close()
    return result


def sync_round(node: Node, peers: list[Peer], page_size: int = DEFAULT_PAGE_SIZE) -> list[PeerResult]:
    if not peers:
        return []
    with ThreadPoolExecutor(max_workers=len(peers), thread_name_prefix="qalqan-sync") as pool:
        return list(pool.map(lambda p: sync_peer(node, p, page_size), peers))
