"""`qalqan watch …`: watches from the command line (the operator's, with every right)."""
from __future__ import annotations

import json
from pathlib import Path

from ..logs import printable
from . import FILTER_FIELDS

# The library (node/alerts/watches.py) loads in the commands: building the parser of every
# `qalqan` command must stay cheap.


def add_watch_commands(command, home) -> None:
    """`home`: the parser of the options every command takes (--home, logging)."""
    watch = command("watch", "watches: saved incident filters that notify an account (docs/alerts.md)"
                    ).add_subparsers(dest="watch_command", required=True)
    p = watch.add_parser("add", parents=[home], help="save a filter as a watch of web account USER")
    p.add_argument("name")
    p.add_argument("--user", required=True, help="the web account it notifies (badge and notifications page)")
    for name in FILTER_FIELDS:
        flag = "--" + name.replace("_", "-")
        p.add_argument(flag, dest=name, metavar=_METAVARS[name], help=_HELP[name])
    p.add_argument("--email", action="append", default=[], metavar="ADDR", help="e-mail each alert here (repeat)")
    p.add_argument("--webhook", action="append", default=[], metavar="URL",
                   help="POST each alert as signed JSON here (repeat); its secret is printed once")
    p.add_argument("--apprise", action="append", default=[], metavar="URL",
                   help="send each alert through apprise (repeat), e.g. tgram://BOT_TOKEN/CHAT_ID")
    p.set_defaults(run=cmd_watch_add)
    p = watch.add_parser("list", parents=[home], help="watches, their channels and their deliveries")
    p.add_argument("--user", help="only this account's watches")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=cmd_watch_list)
    for verb, run, help_ in (("remove", cmd_watch_remove, "remove a watch, its notifications and queued alerts"),
                             ("mute", cmd_watch_mute, "stop a watch notifying, keeping it"),
                             ("unmute", cmd_watch_unmute, "let a muted watch notify again")):
        p = watch.add_parser(verb, parents=[home], help=help_)
        p.add_argument("name")
        p.set_defaults(run=run)


_METAVARS = {"target_country": "CC", "technique": "T", "verdict": "V", "platform": "P", "text": "WORDS",
             "observable": "VALUE"}
_HELP = {"target_country": "incidents targeting this country (ISO code)",
         "technique": "incidents using this DISARM technique (e.g. T0023)",
         "verdict": "incidents with this verdict",
         "platform": "incidents spread on this platform (e.g. telegram)",
         "text": "incidents whose text holds every one of these words (as the list's search)",
         "observable": "incidents naming this URL or account login"}


def _node(args):
    from ..home import Node
    return Node(Path(args.home))


def cmd_watch_add(args) -> int:
    from .watches import add_watch, describe_filters, shown_target
    node = _node(args)
    added = add_watch(node.store, node.home, node.disarm, args.name, args.user,
                      {name: getattr(args, name) for name in FILTER_FIELDS}, args.email, args.webhook, args.apprise)
    print(f"watch {added.watch.name} of {added.watch.user}: {describe_filters(added.watch.filters)}")
    for url, secret in added.secrets.items():
        print(f"webhook {shown_target('webhook', url)} secret (shown once): {secret}")
    return 0


def cmd_watch_list(args) -> int:
    from .watches import describe_filters, list_watches, shown_target
    rows = list_watches(_node(args).store, args.user)
    if args.json:
        print(json.dumps([{"name": r["watch"].name, "user": r["watch"].user, "filters": r["watch"].filters,
                           "muted": r["watch"].muted,
                           "channels": [[c, shown_target(c, t)] for c, t in r["watch"].channels],
                           "notified": r["notified"], "pending": r["pending"], "failed": r["failed"]}
                          for r in rows], indent=2, ensure_ascii=False))
        return 0
    for r in rows:
        w = r["watch"]
        channels = ", ".join(f"{c} {shown_target(c, t)}" for c, t in w.channels) or "badge only"
        print(printable(f"{w.name} ({w.user}){' muted' if w.muted else ''}: {describe_filters(w.filters)}; "
                        f"to {channels}; {r['notified']} notified, {r['pending']} pending, {r['failed']} failed"))
    if not rows:
        print("no watches")
    return 0


def cmd_watch_remove(args) -> int:
    from .watches import remove_watch
    remove_watch(_node(args).store, args.name)
    print(f"watch {args.name} removed")
    return 0


def cmd_watch_mute(args) -> int:
    from .watches import set_muted
    set_muted(_node(args).store, args.name, True)
    print(f"watch {args.name} muted")
    return 0


def cmd_watch_unmute(args) -> int:
    from .watches import set_muted
    set_muted(_node(args).store, args.name, False)
    print(f"watch {args.name} unmuted")
    return 0
