"""Pairing, one command each side: `qalqan invite NAME` writes an invitation for peer
NAME, `qalqan join FILE` accepts one. Two invitations, one each way, connect two nodes.

An invitation is one JSON object (the file `invite` writes, 0600):
  type "qalqan-invitation", id, for (the partner's node name, which the token is for),
  from (name, country, identity), card (this node's card), url (node.url), discovery
  and api_root (its TAXII URLs), token (the secret the partner presents here), feeds
  (id, title, alias, read, write), ca (this node's `tls init` CA certificate as PEM, or
  null when its HTTPS needs none), created, expires, and signature {key_id, value}:
  Ed25519 by this node's key over the canonical JSON (signing.canonical) of the object
  without `signature`. `join` checks it against the card inside, so a changed byte,
  another node's signature or an expired invitation is refused; whether the card
  itself is the partner's is what the fingerprint, compared by phone, settles.

It works once: `join` records each accepted invitation id in data/invitations.json
and refuses it again; and the token in it is the partner's only one here (a new token
for NAME, e.g. from a new invitation, revokes the older). `qalqan token revoke NAME`
ends it; a new invitation restores the partnership.

The CLI (`add_pairing_commands`) and the admin UI call `invite` and `accept`.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature

from . import access, tokens, wire
from . import tls as tls_mod
from .config import COUNTRY_RE, NAME_RE, URL_RE
from .errors import ConfigError, InputError
from .logs import printable
from .signing import b64u_decode, b64u_encode, canonical
from .timefmt import now_us, taxii_to_us, us_to_taxii
from .trust import keys_of_card

if TYPE_CHECKING:
    from .home import Node

TYPE = "qalqan-invitation"
DEFAULT_DAYS = 7
MAX_DAYS = 90
USED_FILE = "data/invitations.json"
DAY_US = 86_400 * 1_000_000
_FIELDS = ("type", "id", "for", "from", "card", "url", "discovery", "api_root", "token", "feeds", "ca",
           "created", "expires", "signature")


@dataclass
class Invitation:
    data: dict           # the signed JSON object
    fingerprint: str     # what both sides read out by phone

    @property
    def inviter(self) -> str:
        return self.data["from"]["name"]


def fingerprint(invitation: dict) -> str:
    """The first 20 hex digits of SHA-256 over the canonical signed invitation, in
    groups of four: short enough to read out, long enough that a forged file will not match."""
    digits = hashlib.sha256(canonical(invitation)).hexdigest()[:20]
    return " ".join(digits[i:i + 4] for i in range(0, 20, 4))


# -- inviting -------------------------------------------------------------------------

def invite(node: Node, name: str, read: list[str] = (), write: list[str] = (), days: int = DEFAULT_DAYS,
           by: str = "cli", now: int | None = None) -> Invitation:
    """A token for peer `name`, the feeds granted to it, and the signed invitation that
    carries them. Everything is checked before anything changes."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InputError(f"NAME: {name!r} is not a node name (a-z, 0-9, _ or -); give the partner's node name")
    if name == node.config.name:
        raise InputError(f"NAME: {name!r} is this node's own name; give the partner's node name")
    if name == access.PUBLIC:
        raise InputError("NAME: 'public' is not a partner")
    if not (read or write):
        raise InputError("say which feeds the partner may use: --read FEED and/or --write FEED")
    if not 1 <= days <= MAX_DAYS:
        raise InputError(f"--days: {days} is not between 1 and {MAX_DAYS}")
    url = node.config["node.url"]
    if not url:
        raise InputError("node.url is not set: the partner needs this node's public address (config.yaml node.url)")
    rights = _rights(node, read, write)

    secret = tokens.create(node.store, name, by=by)
    for feed_name, (may_read, may_write) in rights.items():
        access.grant(node, feed_name, name, read=may_read, write=may_write, by=by)
    created = now if now is not None else now_us()
    base = url.rstrip("/")
    body = {
        "type": TYPE, "id": f"invitation--{uuid.uuid4()}", "for": name,
        "from": {"name": node.config.name, "country": node.config["node.country"],
                 "identity": node.config.identity},
        "card": node.card(), "url": base, "discovery": base + "/taxii2/", "api_root": base + "/taxii2/api/",
        "token": secret,
        "feeds": [{"id": f.id, "title": f.title, "alias": f.name, "read": rights[f.name][0], "write": rights[f.name][1]}
                  for f in (node.config.feed(n) for n in rights)],
        "ca": _own_ca(node, base),
        "created": us_to_taxii(created), "expires": us_to_taxii(created + days * DAY_US),
    }
    key = node.signing_key
    body["signature"] = {"key_id": key.key_id, "value": b64u_encode(key.private_key.sign(canonical(body)))}
    with node.store.transaction():
        node.store.audit("invitation-created", None, None, by,
                         f"invitation {body['id']} for {name}: " + _feeds_phrase(body["feeds"])
                         + f"; expires {body['expires']}")
    return Invitation(body, fingerprint(body))


def _rights(node: Node, read: list[str], write: list[str]) -> dict[str, tuple[bool, bool]]:
    """Feed name → (read, write), from feed names or ids; an unknown feed is refused."""
    rights: dict[str, tuple[bool, bool]] = {}
    for option, refs in (("--read", read), ("--write", write)):
        for ref in refs:
            try:
                feed = node.config.feed(ref)
            except ConfigError as exc:
                raise InputError(f"{option}: {exc.message}") from None
            may_read, may_write = rights.get(feed.name, (False, False))
            rights[feed.name] = (may_read or option == "--read", may_write or option == "--write")
    return rights


def _own_ca(node: Node, base: str) -> str | None:
    """The CA a partner must trust for this node's HTTPS: the one `tls init` made.
    None for plain HTTP or a certificate from elsewhere (publicly trusted, or the
    operator's PKI: hand its CA over with `peer add --ca`)."""
    ca = node.home / tls_mod.CA_CERT
    if not base.startswith("https://") or not ca.is_file():
        return None
    return ca.read_text("ascii")


def _feeds_phrase(feeds: list[dict]) -> str:
    return ", ".join(f"{f['alias']} ({'+'.join(r for r in ('read', 'write') if f[r])})" for f in feeds)


def write_invitation(invitation: Invitation, path: Path) -> None:
    """Write the invitation readable by its owner only: it holds the partner's token."""
    path = Path(path)
    data = (json.dumps(invitation.data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, 0o600)


# -- joining --------------------------------------------------------------------------

def read_invitation(node: Node, raw: bytes, where: str = "invitation", now: int | None = None) -> Invitation:
    """Parse and check an invitation: its form, that it is for this node, its signature
    by the card inside, its expiry, that it was not accepted before. Changes nothing."""
    try:
        data = wire.loads(raw)
    except InputError as exc:
        raise InputError(f"{where}: not an invitation ({exc.message})") from None
    if not isinstance(data, dict) or data.get("type") != TYPE:
        raise InputError(f"{where}: not a Qalqan invitation (type is not {TYPE!r})")
    missing = [k for k in _FIELDS if k not in data]
    if missing:
        raise InputError(f"{where}: the invitation lacks {', '.join(missing)}")
    _check_signature(data, where)
    inviter = data["from"].get("name") if isinstance(data["from"], dict) else None
    if not isinstance(inviter, str) or not NAME_RE.match(inviter):
        raise InputError(f"{where}: the inviting node's name {inviter!r} is not a node name")
    _check_sender(data, where)
    if data["from"].get("identity") != data["card"].get("id"):
        raise InputError(f"{where}: the invitation's sender is not the node of the card it carries")
    if data["card"]["id"] == node.config.identity:
        raise InputError(f"{where}: this invitation was made by this node; carry it to the partner")
    if data["for"] != node.config.name:
        raise InputError(f"{where}: the invitation is for a node named {data['for']!r}, this node is "
                         f"{node.config.name!r} (ask {inviter} for one made with `qalqan invite {node.config.name}`)")
    try:
        expires = taxii_to_us(data["expires"])
    except (TypeError, ValueError):
        raise InputError(f"{where}: 'expires' is not a timestamp") from None
    if (now if now is not None else now_us()) >= expires:
        raise InputError(f"{where}: the invitation expired at {data['expires']}; ask {inviter} for a new one")
    used = _used(node).get(data["id"])
    if used:
        raise InputError(f"{where}: invitation {data['id']} was already accepted at {used}; "
                         f"an invitation works once (ask {inviter} for a new one)")
    _check_feeds(data["feeds"], where)
    return Invitation(data, fingerprint(data))


def _check_signature(data: dict, where: str) -> None:
    if not isinstance(data["card"], dict):
        raise InputError(f"{where}: 'card' is not a card")
    try:
        keys = keys_of_card(data["card"])
    except (InputError, ValueError) as exc:
        raise InputError(f"{where}: the card inside does not verify: {getattr(exc, 'message', exc)}") from None
    sig = data["signature"]
    key = keys.get(sig.get("key_id")) if isinstance(sig, dict) else None
    if key is None or key.revoked_us is not None:
        raise InputError(f"{where}: not signed by a current key of the card it carries (wrong signature)")
    body = {k: v for k, v in data.items() if k != "signature"}
    try:
        key.public_key.verify(b64u_decode(str(sig.get("value"))), canonical(body))
    except (InvalidSignature, ValueError):
        raise InputError(f"{where}: the signature does not verify: the file was changed after it was signed") from None


def _check_sender(data: dict, where: str) -> None:
    """The country and addresses `join` shows and uses: a country code and http(s) URLs
    with a host, nothing a terminal would act on (an escape could redraw the fingerprint)."""
    country = data["from"].get("country")
    if not isinstance(country, str) or not COUNTRY_RE.match(country):
        raise InputError(f"{where}: the inviting node's country {printable(repr(country))[:40]} is not an "
                         "ISO 3166-1 alpha-2 code")
    for field in ("url", "discovery", "api_root"):
        value = data[field]
        if not (isinstance(value, str) and value.isprintable() and URL_RE.match(value)):
            raise InputError(f"{where}: '{field}' {printable(repr(value))[:80]} is not an http(s) URL with a host")


def _check_feeds(feeds, where: str) -> None:
    if not isinstance(feeds, list) or not feeds:
        raise InputError(f"{where}: the invitation names no feeds")
    for f in feeds:
        if not (isinstance(f, dict) and isinstance(f.get("alias"), str) and NAME_RE.match(f["alias"])
                and isinstance(f.get("read"), bool) and isinstance(f.get("write"), bool)):
            raise InputError(f"{where}: a feed entry is malformed: {json.dumps(f)[:120]}")


def describe(invitation: Invitation) -> list[str]:
    """What `join` shows before asking: who invites, the fingerprint, the feeds."""
    data = invitation.data
    return [printable(line) for line in _description(data, invitation.fingerprint)]


def _description(data: dict, fingerprint: str) -> list[str]:
    return [f"invitation from {data['from']['name']} ({data['from'].get('country')}) at {data['url']}",
            f"  identity {data['card']['id']}",
            f"  fingerprint {fingerprint} (compare it with {data['from']['name']} by phone)",
            f"  feeds: {_feeds_phrase(data['feeds'])}",
            f"  TLS: {'trust the CA it carries' if data['ca'] else 'the system CAs'}; expires {data['expires']}"]


def accept(node: Node, invitation: Invitation, by: str = "cli") -> list[str]:
    """Pin the inviter's card and add it as a peer: URL, token, CA (also trusted for
    its client certificates when this node asks for them), this node's client
    certificate when it has one, pull every feed it may read, push every feed it may
    write. Returns what was done, one phrase each."""
    data = invitation.data
    name = data["from"]["name"]
    existing = node.config.peers.get(name)
    if existing and existing.identity not in (None, data["card"]["id"]):
        raise InputError(f"peer {name} exists here for another node ({existing.identity}); "
                         f"`qalqan peer remove {name}` first if this one replaces it")
    done = []
    tls = {}
    ca_rel = f"keys/peer-{name}-ca.pem"
    if data["ca"]:
        _check_ca(data["ca"])
        tls["ca"] = ca_rel
        (node.home / ca_rel).write_text(data["ca"], "ascii")
    if (node.home / tls_mod.CLIENT_CERT).is_file() and (node.home / tls_mod.CLIENT_KEY).is_file():
        tls["client_cert"], tls["client_key"] = tls_mod.CLIENT_CERT, tls_mod.CLIENT_KEY
    pull = [f["alias"] for f in data["feeds"] if f["read"]]
    push = [f["alias"] for f in data["feeds"] if f["write"]]
    try:
        result, _ = node.add_peer(name, data["card"], data["discovery"], data["token"], None, pull, push, tls=tls,
                                  by=by)
    except Exception:
        if data["ca"] and not (existing and existing.ca == ca_rel):
            (node.home / ca_rel).unlink(missing_ok=True)
        raise
    done.append(f"card {result}; peer {name} at {data['discovery']} pulls {', '.join(pull) or '-'}, "
                f"pushes {', '.join(push) or '-'}")
    if data["ca"] and node.config["server.tls_client_ca"]:
        added = tls_mod.trust_client(node.home, node.home / ca_rel, by)
        if added:
            done.append(f"{name}'s CA trusted for client certificates (restart a running `qalqan serve`)")
    _mark_used(node, data["id"])
    with node.store.transaction():
        node.store.audit("invitation-accepted", None, None, by,
                         f"invitation {data['id']} from {name}: " + _feeds_phrase(data["feeds"]))
    return done


def _check_ca(pem: str) -> None:
    from cryptography import x509
    try:
        x509.load_pem_x509_certificates(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise InputError("invitation: 'ca' is not a PEM certificate") from None


def _used(node: Node) -> dict[str, str]:
    path = node.home / USED_FILE
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}


def _mark_used(node: Node, invitation_id: str) -> None:
    used = _used(node)
    used[invitation_id] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = node.home / USED_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(used, indent=1), "utf-8")
    os.replace(tmp, path)


# -- the commands ---------------------------------------------------------------------

def add_pairing_commands(command) -> None:
    p = command("invite", "make a token, grant feeds and write a signed invitation for partner node NAME")
    p.add_argument("name", help="the partner's node name")
    p.add_argument("--read", action="append", default=[], metavar="FEED", help="a feed it may read (repeat)")
    p.add_argument("--write", action="append", default=[], metavar="FEED", help="a feed it may write (repeat)")
    p.add_argument("--out", help="the invitation file (default: NAME.invitation); it holds a secret")
    p.add_argument("--days", type=int, default=DEFAULT_DAYS, help=f"days it stays valid (default {DEFAULT_DAYS})")
    p.set_defaults(run=cmd_invite)
    p = command("join", "accept an invitation: pin the inviting node's card and add it as a peer")
    p.add_argument("file")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(run=cmd_join)


def _node(args) -> Node:
    from .home import Node
    return Node(Path(args.home))


def cmd_invite(args) -> int:
    out = Path(args.out or f"{args.name}.invitation")
    if out.is_dir() or not out.parent.is_dir():
        raise InputError(f"--out: cannot write a file at {out}")
    invitation = invite(_node(args), args.name, args.read, args.write, args.days)
    write_invitation(invitation, out)
    print(f"invitation for {args.name} written to {out} (it holds {args.name}'s token: carry it in person or "
          f"over an encrypted channel); expires {invitation.data['expires']}")
    print(f"feeds: {_feeds_phrase(invitation.data['feeds'])}")
    print(f"fingerprint {invitation.fingerprint} (read it out to {args.name} by phone)")
    return 0


def cmd_join(args) -> int:
    node = _node(args)
    path = Path(args.file)
    try:
        raw = path.read_bytes()
    except OSError:
        raise InputError(f"{args.file}: no such file") from None
    invitation = read_invitation(node, raw, where=args.file)
    for line in describe(invitation):
        print(line)
    if not args.yes:
        print("accept? [y/N] ", end="", flush=True)
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            print("not accepted; nothing changed")
            return 1
    for line in accept(node, invitation):
        print(line)
    print(f"joined {invitation.inviter}: `qalqan sync --once` pulls now")
    return 0
