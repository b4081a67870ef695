"""`qalqan sync [--once] [--peer NAME]` (design/cli.md)."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from ..errors import InputError
from ..logs import printable


def add_sync_command(command) -> None:
    p = command("sync", "pull from and push to peers now; without --once, repeat every sync.interval")
    p.add_argument("--once", action="store_true", help="one round, then exit")
    p.add_argument("--peer", metavar="NAME", help="only this peer")
    p.add_argument("--page-size", type=_positive_int, metavar="N",
                   help="objects asked for per page (default 1000; the peer may send fewer)")
    p.set_defaults(run=cmd_sync)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def cmd_sync(args) -> int:
    from ..home import Node
    from .pull import DEFAULT_PAGE_SIZE
    from .rounds import sync_round
    node = Node(Path(args.home))
    peers = list(node.config.peers.values())
    if args.peer is not None:
        if args.peer not in node.config.peers:
            raise InputError(f"--peer: no peer named {args.peer!r} in config.yaml")
        peers = [node.config.peers[args.peer]]
    if not peers:
        print("no peers configured (add one with `qalqan peer add`)")
        return 0
    page_size = args.page_size or DEFAULT_PAGE_SIZE
    if args.once:
        return _print_round(sync_round(node, peers, page_size))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    code = 0
    while not stop.is_set():
        code = _print_round(sync_round(node, peers, page_size))
        stop.wait(float(node.config["sync.interval"]))
    return code


def _print_round(results) -> int:
    for result in results:
        print(printable(result.line()))
    sys.stdout.flush()
    for result in results:
        if result.error:  # may quote the peer's own words
            print(printable(f"qalqan: peer {result.peer} failed: {result.error}"), file=sys.stderr)
    return 1 if any(r.error for r in results) else 0
