"""One sync round: push then pull with every peer, each peer in its own thread.

A peer that is down fails fast; one that hangs fails after `sync.timeout` per
request. Either way the other peers' threads are not held up. Each peer's part of a
round is one log line with its counts; a failure that is not a peer's or the
network's (a bug here) is logged with its traceback.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..config import Peer
from ..home import Node
from ..logs import get_logger
from . import health
from .client import PeerClient, describe, is_expected_failure
from .pull import DEFAULT_PAGE_SIZE, PullCounts, pull_peer
from .push import PushCounts, push_peer


log = get_logger(__name__)


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
                f"pushed {self.pushed.posted} ({self.pushed.relayed} relayed)")
        return text + ("; FAILED (see stderr)" if self.error else "")


def sync_peer(node: Node, peer: Peer, page_size: int = DEFAULT_PAGE_SIZE) -> PeerResult:
    """Push pending own objects, then pull; a failure is recorded in the peers table, not raised."""
    result = PeerResult(peer.name, PullCounts(), PushCounts())
    client = PeerClient.configured(peer, node.config)
    health.attempted(node.store, peer.name)
    try:
        result.pushed = push_peer(node, peer, client)
        pull_peer(node, peer, client, page_size, into=result.pulled)
    except Exception as exc:  # noqa: BLE001 - any failure of one peer is that peer's error, not the round's
        result.error = describe(exc)
        health.failed(node.store, peer.name, result.error)
        if not is_expected_failure(exc):
            log.exception("sync with %s failed unexpectedly", peer.name)
    else:
        health.succeeded(node.store, peer.name)
    finally:
        client.close()
    log_result(result)
    return result


def log_result(result: PeerResult) -> None:
    c = result.pulled.counts
    fields = {"peer": result.peer, "received": result.pulled.received, "accepted": c["accepted"],
              "duplicate": c["duplicate"], "quarantined": c["quarantined"], "rejected": c["rejected"],
              "pushed": result.pushed.posted, "relayed": result.pushed.relayed, "error": result.error}
    text = (f"sync {result.peer}: received {result.pulled.received}, accepted {c['accepted']}, duplicate "
            f"{c['duplicate']}, quarantined {c['quarantined']}, rejected {c['rejected']}; "
            f"pushed {result.pushed.posted} ({result.pushed.relayed} relayed)")
    if result.error:
        log.warning("%s; failed: %s", text, result.error, extra={"fields": fields})
    else:
        log.info("%s", text, extra={"fields": fields})


def sync_round(node: Node, peers: list[Peer], page_size: int = DEFAULT_PAGE_SIZE) -> list[PeerResult]:
    if not peers:
        return []
    with ThreadPoolExecutor(max_workers=len(peers), thread_name_prefix="qalqan-sync") as pool:
        return list(pool.map(lambda p: sync_peer(node, p, page_size), peers))
