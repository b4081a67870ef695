"""The lost-key drill on the command line: `key reset` here, `trust replace` at each
partner, `card --fingerprint` to read the fingerprint out again (README, "Trust and
keys"). The library side is Node.reset_key / Node.replace_trust and TrustStore.replace."""
from __future__ import annotations

from .errors import InputError
from .timefmt import is_stix_timestamp


def add_key_reset_commands(key, trust, home) -> None:
    """`key reset` under `qalqan key`, `trust replace` under `qalqan trust`."""
    p = key.add_parser("reset", parents=[home],
                       help="the key is lost or compromised: make a new key under the same identity and a card "
                            "version signed by it alone, revoking the old key; partners take it with trust replace")
    p.add_argument("--revoked-at", metavar="TIME",
                   help="when the old key stops verifying (a STIX timestamp, not in the future; default now): "
                        "the earliest moment it may have been out of your hands")
    p.set_defaults(run=_cmd_key_reset)
    p = trust.add_parser("replace", parents=[home],
                         help="take the card a partner made with `key reset` (its old key did not sign it)")
    p.add_argument("name", help="the partner: a peer name or the node's name as its card gives it")
    p.add_argument("--card", required=True, help="the partner's new card (JSON file)")
    p.add_argument("--fingerprint", required=True,
                   help="the fingerprint of the new card, as the partner read it to you out of band")
    p.set_defaults(run=_cmd_trust_replace)


def _cmd_key_reset(args) -> int:
    from pathlib import Path

    from .home import Node
    from .incident import stix_now
    from .timefmt import taxii_to_us
    if args.revoked_at is not None and (not is_stix_timestamp(args.revoked_at)
                                        or taxii_to_us(args.revoked_at) > taxii_to_us(stix_now())):
        raise InputError("--revoked-at: expected a STIX timestamp such as 2026-12-01T10:00:00.000Z, not in the future")
    from .trust import card_fingerprint
    card = Node(Path(args.home), key_lost=True).reset_key(args.revoked_at)
    print(f"key {card_fingerprint(card)}")
    print(f"new card version {card['modified']}: the old key is revoked; give partners the card "
          f"(`qalqan card > card.json`) and, by another channel, this fingerprint:")
    print(f"fingerprint {card_fingerprint(card)}")
    return 0


def _cmd_trust_replace(args) -> int:
    from .cli import _print_released, _read_card, open_node
    node = open_node(args)
    card = _read_card(args.card)
    expected = node.peer_identity(args.name)
    if expected is None:
        named = [c["identity"] for c in node.trust.cards() if c["name"] == args.name]
        expected = named[0] if len(named) == 1 else None
    if expected is None:
        raise InputError(f"{args.name}: no peer or pinned node of that name")
    if card.get("id") != expected:
        raise InputError(f"--card: the card is of {card.get('id')}, not of {args.name} ({expected})")
    result, released = node.replace_trust(card, args.fingerprint)
    print(f"{card['id']}: {result}")
    _print_released(released)
    return 0
