"""Who may do what at this node, changed by commands instead of YAML edits: feeds and
their readers and writers, peers, pinned cards (tokens and web accounts live in
tokens.py and users.py; this module composes them where a change spans several).

The CLI (`qalqan feed|peer|trust …`, added by `add_access_commands`) and the admin UI
call the same functions. Every change is written to the audit log with who made it
(`by`: "cli", or "admin NAME" from the UI). Feed and config files are changed through
config.update_feed/update_config: locked, and undone when the result would not load.
A running `qalqan serve` follows the files (ConfigWatch) and reads tokens per request,
so a revoked token or a removed peer is refused on its next request.
"""
from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import config as config_mod
from . import tokens
from .config import NAME_RE, Feed
from .errors import InputError
from .logs import printable
from .policy import FEED_PROFILES, NEVER_SHARED, TLP_ORDER

if TYPE_CHECKING:
    from .home import Node

PUBLIC = "public"  # the reader name that opens a feed to anonymous callers


def _audit(node: Node, event: str, by: str, what: str) -> None:
    with node.store.transaction():
        node.store.audit(event, None, None, by, what)


def _reload(node: Node) -> None:
    node.config = config_mod.load(node.home)


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InputError(f"{what}: {name!r} is not a name (a-z, 0-9, _ or -, starting with a letter or digit)")


# -- feeds -----------------------------------------------------------------------------

def add_feed(node: Node, name: str, max_tlp: str, title: str | None = None, description: str = "",
             by: str = "cli", profile: str | None = None) -> Feed:
    """A new feed file feeds/NAME.yaml with a fresh UUIDv4 id and no readers or writers;
    `profile` (policy.FEED_PROFILES) adds the objects of one kind of subscriber."""
    _check_name(name, "NAME")
    if max_tlp not in TLP_ORDER:
        raise InputError(f"--max-tlp: must be one of {', '.join(TLP_ORDER)}")
    if max_tlp in NEVER_SHARED:
        raise InputError(f"--max-tlp: TLP:{max_tlp.upper()} is never shared, so no feed may carry it "
                         "(the highest ceiling is amber)")
    if name in node.config.feeds:
        raise InputError(f"NAME: a feed named {name!r} exists (feeds/{name}.yaml)")

    def fill(data: dict) -> None:
        data.update({"id": str(uuid.uuid4()), "title": title or name, "description": description,
                     "max_tlp": max_tlp, "readers": [], "writers": []})
        if profile is not None:
            data["profile"] = profile
    config_mod.update_feed(node.home, name, fill, create=True)
    _reload(node)
    feed = node.config.feed(name)
    _audit(node, "feed-added", by, f"feed {name} ({feed.id}) up to TLP:{max_tlp.upper()}")
    return feed


def grant(node: Node, feed_ref: str, peer: str, read: bool = False, write: bool = False, by: str = "cli") -> Feed:
    """Let `peer` read and/or write a feed (by name or id)."""
    if not (read or write):
        raise InputError("say what to grant: --read, --write or both")
    _check_name(peer, "PEER")
    if write and peer == PUBLIC:
        raise InputError("PEER: 'public' (anyone) may read a feed but never write to it")
    feed = node.config.feed(feed_ref)

    def add(data: dict) -> None:
        for key, wanted in (("readers", read), ("writers", write)):
            if wanted and peer not in (data.get(key) or []):
                data[key] = [*(data.get(key) or []), peer]
    config_mod.update_feed(node.home, feed.name, add)
    _reload(node)
    rights = "+".join(r for r, wanted in (("read", read), ("write", write)) if wanted)
    _audit(node, "feed-granted", by, f"feed {feed.name}: {peer} may {rights}")
    return node.config.feed(feed.name)


def revoke(node: Node, feed_ref: str, peer: str, by: str = "cli") -> Feed:
    """Take every right on a feed from `peer` (it is neither reader nor writer after)."""
    feed = node.config.feed(feed_ref)
    if peer not in feed.readers and peer not in feed.writers:
        raise InputError(f"PEER: {peer!r} may neither read nor write feed {feed.name}")

    def drop(data: dict) -> None:
        for key in ("readers", "writers"):
            data[key] = [p for p in (data.get(key) or []) if p != peer]
    config_mod.update_feed(node.home, feed.name, drop)
    _reload(node)
    _audit(node, "feed-revoked", by, f"feed {feed.name}: {peer} may no longer read or write")
    return node.config.feed(feed.name)


# -- peers -----------------------------------------------------------------------------

@dataclass
class PeerView:
    name: str
    url: str | None       # None: not in config.yaml (it only holds a token or a feed right)
    identity: str | None
    pull: list[str]
    push: list[str]
    tokens: int
    reads: list[str]
    writes: list[str]


def list_peers(node: Node) -> list[PeerView]:
    """Peers in config.yaml, and names that hold a token or a feed right without being there."""
    counts: dict[str, int] = {}
    for row in tokens.list_tokens(node.store):
        counts[row["peer"]] = counts.get(row["peer"], 0) + 1
    feeds = node.config.feeds.values()
    names = set(node.config.peers) | set(counts) | {p for f in feeds for p in (*f.readers, *f.writers)} - {PUBLIC}
    views = []
    for name in sorted(names):
        entry = node.config.peers.get(name)
        views.append(PeerView(name, entry.url if entry else None, entry.identity if entry else None,
                              list(entry.pull) if entry else [], list(entry.push) if entry else [],
                              counts.get(name, 0), [f.name for f in feeds if name in f.readers],
                              [f.name for f in feeds if name in f.writers]))
    return views


def remove_peer(node: Node, name: str, by: str = "cli") -> list[str]:
    """Remove a peer: from config.yaml, from every feed's readers and writers, its tokens
    and its sync state. Its pinned card stays (objects it signed still verify; `trust
    remove` unpins it). Returns what was done, one phrase each."""
    _check_name(name, "NAME")
    if name == PUBLIC:
        raise InputError("NAME: 'public' is not a peer (revoke it from a feed with `feed revoke FEED public`)")
    done = []
    if name in node.config.peers:
        config_mod.update_config(node.home, lambda data: data["peers"].pop(name))
        done.append("removed from config.yaml")
    for feed in node.config.feeds.values():
        if name in feed.readers or name in feed.writers:
            revoke(node, feed.name, name, by=by)
            done.append(f"no longer reads or writes feed {feed.name}")
    gone = sum(1 for row in tokens.list_tokens(node.store) if row["peer"] == name)
    if gone:
        tokens.revoke(node.store, name, by=by)
        done.append(f"{gone} token(s) revoked")
    if not done:
        raise InputError(f"NAME: no peer named {name!r} (`qalqan peer list` shows them)")
    with node.store.transaction() as db:
        for table, key in (("peers", "name"), ("cursors", "peer"), ("push_cursors", "peer")):
            db.execute(f"DELETE FROM {table} WHERE {key} = ?", [name])
        node.store.audit("peer-removed", None, None, by, f"peer {name}: " + "; ".join(done))
    _reload(node)
    return done


# -- trust -----------------------------------------------------------------------------

def list_trusted(node: Node) -> list[dict]:
    """Pinned cards: identity, name, country, version; `own` marks this node's, `peers`
    names the peers in config.yaml that the card speaks for."""
    rows = node.trust.cards()
    for row in rows:
        row["own"] = row["identity"] == node.config.identity
        row["peers"] = [p.name for p in node.config.peers.values() if p.identity == row["identity"]]
    return rows


def remove_trust(node: Node, ref: str, by: str = "cli") -> dict:
    """Unpin a card, named by its identity id, its name (the organisation) or the name of
    a peer it speaks for. This node's own card cannot be removed, nor one a peer in
    config.yaml depends on (remove the peer first)."""
    matches = [c for c in list_trusted(node) if ref in (c["identity"], c["name"], *c["peers"])]
    if not matches:
        raise InputError(f"NAME: no pinned card of a node named {ref!r} (`qalqan trust list` shows them)")
    if len(matches) > 1:
        raise InputError(f"NAME: {len(matches)} pinned cards are named {ref!r}; give the identity id")
    card = matches[0]
    if card["own"]:
        raise InputError("NAME: that is this node's own card; it cannot be unpinned")
    if card["peers"]:
        raise InputError(f"NAME: peer {', '.join(card['peers'])} in config.yaml uses this card; remove the peer "
                         f"first (`qalqan peer remove {card['peers'][0]}`)")
    node.trust.unpin(card["identity"])
    _audit(node, "trust-removed", by, f"card of {card['name']} ({card['identity']}) unpinned")
    return card


# -- the commands ------------------------------------------------------------------------

def add_access_commands(command, groups: dict) -> None:
    """`feed …` and the list/remove commands of the `peer`, `token`, `user` and `trust`
    groups (`groups`: their subparser sets, made in cli.py)."""
    home = groups["home"]
    feed = command("feed", "feeds (TAXII collections) and who may read or write them").add_subparsers(
        dest="feed_command", required=True)
    feed.add_parser("list", parents=[home], help="feeds with their ceiling, readers and writers"
                    ).set_defaults(run=cmd_feed_list)
    p = feed.add_parser("add", parents=[home], help="make a new feed (feeds/NAME.yaml) nobody may read yet")
    p.add_argument("name")
    p.add_argument("--max-tlp", required=True, choices=TLP_ORDER,
                   help="the most restricted TLP the feed carries")
    p.add_argument("--title", help="the collection's title (default: NAME)")
    p.add_argument("--description", default="")
    p.add_argument("--profile", choices=FEED_PROFILES,
                   help="opencti: also carry OpenCTI's narrative and channel objects and the DISARM objects "
                        "incidents relate to (docs/data-model.md, \"Feeds for OpenCTI\")")
    p.set_defaults(run=cmd_feed_add)
    p = feed.add_parser("grant", parents=[home], help="let peer PEER read and/or write FEED (name or id)")
    p.add_argument("feed")
    p.add_argument("peer", help="a peer name, or 'public' to let anyone read")
    p.add_argument("--read", action="store_true")
    p.add_argument("--write", action="store_true")
    p.set_defaults(run=cmd_feed_grant)
    p = feed.add_parser("revoke", parents=[home], help="take every right on FEED from PEER")
    p.add_argument("feed")
    p.add_argument("peer")
    p.set_defaults(run=cmd_feed_revoke)

    groups["peer"].add_parser("list", parents=[home], help="peers: URL, feeds, tokens").set_defaults(
        run=cmd_peer_list)
    p = groups["peer"].add_parser("remove", parents=[home],
                                  help="remove a peer: config, feed rights, tokens and sync state")
    p.add_argument("name")
    p.set_defaults(run=cmd_peer_remove)

    groups["token"].add_parser("list", parents=[home], help="tokens: peer, id, created (never the secret)"
                               ).set_defaults(run=cmd_token_list)
    p = groups["token"].add_parser("revoke", parents=[home], help="revoke the tokens of peer NAME (or token id NAME)")
    p.add_argument("name")
    p.set_defaults(run=cmd_token_revoke)

    groups["user"].add_parser("list", parents=[home], help="web accounts").set_defaults(run=cmd_user_list)
    p = groups["user"].add_parser("remove", parents=[home], help="remove an account and end its web sessions")
    p.add_argument("name")
    p.set_defaults(run=cmd_user_remove)
    p = groups["user"].add_parser("passwd", parents=[home], help="set a new password; ends the account's sessions")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(run=cmd_user_passwd)

    groups["trust"].add_parser("list", parents=[home], help="pinned node cards").set_defaults(run=cmd_trust_list)
    p = groups["trust"].add_parser("remove", parents=[home], help="unpin the card of node NAME (name or identity)")
    p.add_argument("name")
    p.set_defaults(run=cmd_trust_remove)


def _node(args) -> Node:
    from pathlib import Path

    from .home import Node
    return Node(Path(args.home))


def _when(us: int | None) -> str:
    from .timefmt import us_to_taxii
    return us_to_taxii(us) if us else "-"


def cmd_feed_list(args) -> int:
    for f in _node(args).config.feeds.values():
        print(f"{f.name}  {f.id}  max {f.max_tlp}  readers: {', '.join(f.readers) or '-'}  "
              f"writers: {', '.join(f.writers) or '-'}  ({f.title})" + (f"  profile {f.profile}" if f.profile else ""))
    return 0


def cmd_feed_add(args) -> int:
    feed = add_feed(_node(args), args.name, args.max_tlp, args.title, args.description, profile=args.profile)
    print(f"feed {feed.name} {feed.id} (up to TLP:{feed.max_tlp.upper()}); nobody may read it yet: "
          f"`qalqan feed grant {feed.name} PEER --read`")
    return 0


def cmd_feed_grant(args) -> int:
    feed = grant(_node(args), args.feed, args.peer, read=args.read, write=args.write)
    print(f"feed {feed.name}: readers {', '.join(feed.readers) or '-'}; writers {', '.join(feed.writers) or '-'}")
    return 0


def cmd_feed_revoke(args) -> int:
    feed = revoke(_node(args), args.feed, args.peer)
    print(f"feed {feed.name}: readers {', '.join(feed.readers) or '-'}; writers {', '.join(feed.writers) or '-'}")
    return 0


def cmd_peer_list(args) -> int:
    for p in list_peers(_node(args)):
        where = p.url or "(not in config.yaml)"
        print(f"{p.name}  {where}  pull: {', '.join(p.pull) or '-'}  push: {', '.join(p.push) or '-'}  "
              f"reads: {', '.join(p.reads) or '-'}  writes: {', '.join(p.writes) or '-'}  tokens: {p.tokens}")
    return 0


def cmd_peer_remove(args) -> int:
    done = remove_peer(_node(args), args.name)
    print(f"peer {args.name}: " + "; ".join(done))
    return 0


def cmd_token_list(args) -> int:
    for row in tokens.list_tokens(_node(args).store):
        print(f"{row['peer']}  {row['id']}  created {_when(row['created'])}")
    return 0


def cmd_token_revoke(args) -> int:
    gone = tokens.revoke(_node(args).store, args.name)
    print(f"{args.name}: {gone} token(s) revoked")
    return 0


def cmd_user_list(args) -> int:
    from .users import list_users
    for row in list_users(_node(args).store):
        print(f"{row['name']}  {row['role']}  created {_when(row['created'])}  sessions {row['sessions']}")
    return 0


def cmd_user_remove(args) -> int:
    from .users import remove_user
    remove_user(_node(args).store, args.name)
    print(f"user {args.name} removed")
    return 0


def cmd_user_passwd(args) -> int:
    from .users import set_password
    node = _node(args)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        import getpass
        password = getpass.getpass(f"new password for {args.name}: ")
    ended = set_password(node.store, args.name, password)
    print(f"password of {args.name} changed; {ended} web session(s) ended")
    return 0


def cmd_trust_list(args) -> int:
    for c in list_trusted(_node(args)):
        note = " (this node)" if c["own"] else (f" (peer {', '.join(c['peers'])})" if c["peers"] else "")
        print(printable(f"{c['name']}  {c['country']}  {c['identity']}  card {c['version']}{note}"))
    return 0


def cmd_trust_remove(args) -> int:
    card = remove_trust(_node(args), args.name)
    print(f"unpinned {card['name']} {card['identity']}")
    return 0
