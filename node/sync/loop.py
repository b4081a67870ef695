"""The background sync inside `qalqan serve`.

Per peer, two threads: a pusher that looks at the outbox every PUSH_POLL seconds
(so an incident added by another process, or relayed from another partner, reaches
the peer within seconds) and a puller that runs every `sync.interval`. Failures back
off exponentially up to the interval; one peer's trouble never touches another peer's
threads. A supervisor restarts the workers when config.yaml or a feed file changes
(e.g. `peer add`); an edit that does not load leaves the workers running on the last
good configuration.
Each pull is one log line with its counts; an unexpected failure (not a peer's
refusal, not the network) is logged with its traceback.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from ..config import Peer
from ..confwatch import clear_error, config_stamp, record_error
from ..errors import ConfigError
from ..home import Node
from ..logs import get_logger
from ..timefmt import now_us
from . import health
from .client import PeerClient, describe, is_expected_failure
from .pull import pull_peer
from .push import PushCounts, push_peer
from .rounds import PeerResult, log_result

log = get_logger(__name__)

PUSH_POLL = 0.5
FIRST_RETRY = 0.5
CONFIG_POLL = 1.0


class Backoff:
    def __init__(self, ceiling: float):
        self.ceiling = ceiling
        self.delay = 0.0

    def failed(self) -> float:
        self.delay = min(self.ceiling, FIRST_RETRY if self.delay == 0 else self.delay * 2)
        return self.delay

    def succeeded(self) -> None:
        self.delay = 0.0


def _repeat(stop: threading.Event, action: Callable[[], None], every: float, ceiling: float, what: str) -> None:
    """Run `action` every `every` seconds until `stop`; after a failure, wait the backoff instead."""
    backoff = Backoff(ceiling)
    while not stop.is_set():
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - logged and retried; the loop must outlive any peer failure
            delay = backoff.failed()
            log.warning("%s failed (retry in %.1f s): %s", what, delay, describe(exc),
                        exc_info=not is_expected_failure(exc))
            stop.wait(delay)
        else:
            backoff.succeeded()
            stop.wait(every)


class PeerWorkers:
    """The pusher and the puller of one peer."""

    def __init__(self, node: Node, peer: Peer, stop: threading.Event):
        self.node, self.peer, self.stop = node, peer, stop
        interval = float(node.config["sync.interval"])
        self.threads = []
        if peer.push:
            self.threads.append(threading.Thread(
                target=_repeat, name=f"qalqan-push-{peer.name}", daemon=True,
                args=(stop, self._push, PUSH_POLL, interval, f"push to {peer.name}")))
        if peer.pull:
            self.threads.append(threading.Thread(
                target=_repeat, name=f"qalqan-pull-{peer.name}", daemon=True,
                args=(stop, self._pull, interval, interval, f"pull from {peer.name}")))
        self._push_client: PeerClient | None = None

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self, timeout: float) -> None:
        for thread in self.threads:
            thread.join(timeout)

    def _push(self) -> None:
        # The pusher keeps its client (and the peer's collection list) between polls;
        # any failure drops it so the next attempt starts from discovery again.
        # Readers and TLP ceilings as the feed files say now: the supervisor restarts the
        # workers after an edit, but a push poll may come first (a broken file raises).
        self.node.reload_config_if_changed()
        if self._push_client is None:
            self._push_client = PeerClient.configured(self.peer, self.node.config)
        try:
            pushed = push_peer(self.node, self.peer, self._push_client)
        except Exception as exc:
            self._push_client.close()
            self._push_client = None
            health.failed(self.node.store, self.peer.name, "push: " + describe(exc))
            raise
        if pushed.posted:
            health.succeeded(self.node.store, self.peer.name)
            log.info("pushed %d objects to %s (%d relayed)", pushed.posted, self.peer.name, pushed.relayed)

    def _pull(self) -> None:
        client = PeerClient.configured(self.peer, self.node.config)
        health.attempted(self.node.store, self.peer.name)
        try:
            pulled = pull_peer(self.node, self.peer, client)
        except Exception as exc:
            health.failed(self.node.store, self.peer.name, describe(exc))
            raise
        finally:
            client.close()
        health.succeeded(self.node.store, self.peer.name)
        log_result(PeerResult(self.peer.name, pulled, PushCounts()))


def run_background_sync(home: Path, stop: threading.Event) -> None:
    """Run workers for every configured peer until `stop` is set; restart them on the
    configuration the files hold after each edit that loads."""
    stamp, generation, workers = None, threading.Event(), []
    while not stop.is_set():
        now = config_stamp(home)
        if now != stamp:
            stamp = now
            node = _open_node(home, keeping=bool(workers))
            if node is not None:
                _stop_workers(generation, workers)
                generation = threading.Event()
                workers = _start_workers(node, generation)
        stop.wait(CONFIG_POLL)
    _stop_workers(generation, workers)


def _open_node(home: Path, keeping: bool) -> Node | None:
    try:
        node = Node(home)
    except Exception as exc:  # noqa: BLE001 - a broken config must not kill the server; wait for a fix
        state = "sync keeps the last good configuration" if keeping else "sync paused"
        log.error("%s: %s", state, describe(exc), exc_info=not isinstance(exc, ConfigError))
        record_error(home, describe(exc), now_us())
        return None
    clear_error(home)
    return node


def _stop_workers(generation: threading.Event, workers: list[PeerWorkers]) -> None:
    generation.set()
    for worker in workers:
        worker.join(float(worker.node.config["sync.timeout"]) + 1)


def _start_workers(node: Node, stop: threading.Event) -> list[PeerWorkers]:
    workers = [PeerWorkers(node, peer, stop) for peer in node.config.peers.values()]
    for worker in workers:
        worker.start()
    return workers


def start_background_sync(home: Path, stop: threading.Event) -> threading.Thread:
    """Start the sync loop of `qalqan serve`; it ends soon after `stop` is set."""
    thread = threading.Thread(target=run_background_sync, args=(Path(home), stop), name="qalqan-sync", daemon=True)
    thread.start()
    return thread
