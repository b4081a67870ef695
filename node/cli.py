"""The `qalqan` command (design/cli.md): parse arguments, call the library, print.

Library errors become one sentence on stderr here and nowhere else:
exit 2 for bad usage or input, 1 when an operation ran and found failures.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import __version__, logs
from .logs import printable
from .access import add_access_commands
from .alerts.cli import add_watch_commands
from .backup import add_backup_commands
from .disarm_update import add_disarm_command
from .errors import ConfigError, InputError, QalqanError
from .keyreset import add_key_reset_commands
from .pairing import add_pairing_commands
from .server import add_serve_command
from .sync import add_sync_command
from .tls import add_tls_command

USAGE_ERRORS = (InputError, ConfigError)
PARALLEL_IMPORT_BYTES = 4 * 1024 * 1024


def _home_default() -> str:
    return os.environ.get("QALQAN_HOME") or "."


def build_parser() -> argparse.ArgumentParser:
    home = argparse.ArgumentParser(add_help=False)
    home.add_argument("--home", default=argparse.SUPPRESS, help="the node's home folder (default: $QALQAN_HOME or .)")
    home.add_argument("--log-level", default=argparse.SUPPRESS, choices=logs.LEVELS,
                      help="how much to log on stderr (default: $QALQAN_LOG_LEVEL or info)")
    home.add_argument("--log-format", default=argparse.SUPPRESS, choices=logs.FORMATS,
                      help="text lines (default) or one JSON object per line")
    parser = argparse.ArgumentParser(prog="qalqan", parents=[home],
                                     description="Qalqan: a node that shares signed disinformation incidents.")
    parser.add_argument("--version", action="version", version=f"qalqan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help_, **kw):
        return sub.add_parser(name, parents=[home], help=help_, description=help_, **kw)

    p = command("init", "make a node's home: config, key pair, card, default feeds, database")
    p.add_argument("--name", required=True)
    p.add_argument("--country", required=True)
    p.add_argument("--url", help="public base URL with no path, e.g. http://127.0.0.1:8001")
    p.add_argument("--org", help="the organisation the node speaks for, the card's name "
                                 "(default: --name); --name stays the short name peers call it by")
    p.set_defaults(run=cmd_init)

    p = command("card", "print this node's card (its signed identity) as JSON")
    p.add_argument("--fingerprint", action="store_true", help="print only its fingerprint, to compare out of band")
    p.add_argument("--org", help="publish a new card version naming this organisation, then print it")
    p.set_defaults(run=cmd_card)

    peer = command("peer", "manage partner nodes").add_subparsers(dest="peer_command", required=True)
    p = peer.add_parser("add", parents=[home], help="pin a partner's card and add it to config")
    p.add_argument("name")
    p.add_argument("--card", help="the partner's card (JSON file)")
    p.add_argument("--url", required=True, help="the partner's TAXII discovery URL")
    tok = p.add_mutually_exclusive_group()
    tok.add_argument("--token", help="secret to present to the partner")
    tok.add_argument("--token-env", help="environment variable that holds the secret")
    p.add_argument("--pull", action="append", default=[], metavar="FEED", help="partner feed to pull (repeat)")
    p.add_argument("--push", action="append", default=[], metavar="FEED", help="partner feed to push to (repeat)")
    p.add_argument("--unsigned", action="store_true",
                   help="a TAXII source that does not sign (e.g. another vendor's server): its objects are stored "
                        "as external and never relayed")
    p.add_argument("--ca", help="CA bundle, or the partner's self-signed certificate, to trust for its HTTPS "
                                "(default: the system's CAs)")
    p.add_argument("--client-cert", help="certificate to present when the partner asks for one (mutual TLS)")
    p.add_argument("--client-key", help="private key of --client-cert")
    p.set_defaults(run=cmd_peer_add)

    trust = command("trust", "manage the trust store").add_subparsers(dest="trust_command", required=True)
    p = trust.add_parser("add", parents=[home], help="pin the card of a node that is not a direct peer")
    p.add_argument("--card", required=True)
    p.set_defaults(run=cmd_trust_add)

    key = command("key", "the node's signing key").add_subparsers(dest="key_command", required=True)
    p = key.add_parser("rotate", parents=[home], help="make a new key and publish a card listing it, signed by the old")
    p.add_argument("--revoke-old", action="store_true",
                   help="mark the old key revoked now: nothing it signs is accepted after this")
    p.set_defaults(run=cmd_key_rotate)
    add_key_reset_commands(key, trust, home)

    token = command("token", "credentials for peers").add_subparsers(dest="token_command", required=True)
    p = token.add_parser("create", parents=[home], help="make a secret for peer NAME to use against this node")
    p.add_argument("name")
    p.add_argument("--keep-old", action="store_true", help="leave the peer's older tokens working")
    p.set_defaults(run=cmd_token_create)

    user = command("user", "web UI accounts").add_subparsers(dest="user_command", required=True)
    p = user.add_parser("add", parents=[home], help="add an analyst or admin account")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=("analyst", "admin"))
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument("--language", help="UI language: en, ru, kk, uz (uz-Latn), az, tr or ky; "
                                      "default: the browser's choice")
    p.set_defaults(run=cmd_user_add)

    incident = command("incident", "incidents").add_subparsers(dest="incident_command", required=True)
    p = incident.add_parser("add", parents=[home], help="record an incident from a YAML or JSON file")
    p.add_argument("file")
    p.set_defaults(run=cmd_incident_add)
    p = incident.add_parser("show", parents=[home], help="print an own incident as a record file (YAML), to edit")
    p.add_argument("id")
    p.set_defaults(run=cmd_incident_show)
    p = incident.add_parser("edit", parents=[home],
                            help="correct an own incident from a complete record file: new signed versions")
    p.add_argument("id")
    p.add_argument("file")
    p.add_argument("--lower-tlp", action="store_true", help="confirm that the record lowers the incident's TLP")
    p.set_defaults(run=cmd_incident_edit)
    p = incident.add_parser("withdraw", parents=[home], help="withdraw an own incident (revoked, with the reason)")
    p.add_argument("id")
    p.add_argument("--reason", required=True, help="why; partners and the public read it")
    p.set_defaults(run=cmd_incident_withdraw)

    sighting = command("sighting", "sightings").add_subparsers(dest="sighting_command", required=True)
    p = sighting.add_parser("add", parents=[home], help="record that an incident was seen here too (YAML or JSON)")
    p.add_argument("incident_id")
    p.add_argument("file")
    p.set_defaults(run=cmd_sighting_add)

    from .opinions import OPINIONS
    p = command("opinion", "agree or disagree with a partner's verdict on an incident")
    p.add_argument("incident_id")
    p.add_argument("opinion", choices=OPINIONS)
    p.add_argument("--text", help="the explanation partners read")
    p.set_defaults(run=cmd_opinion)
    response = command("response", "countermeasures taken against incidents").add_subparsers(
        dest="response_command", required=True)
    p = response.add_parser("add", parents=[home], help="record a response to an incident held here from a YAML or "
                                                        "JSON file (kind, at, description, url, countermeasures)")
    p.add_argument("incident_id")
    p.add_argument("file")
    p.set_defaults(run=cmd_response_add)

    p = command("export", "write a STIX 2.1 bundle to stdout")
    p.add_argument("--feed", help="only what this feed carries")
    p.add_argument("--all", action="store_true", help="everything the node holds and may show, not just its own")
    p.set_defaults(run=cmd_export)

    p = command("import", "verify and store a bundle or envelope, like a TAXII POST")
    p.add_argument("file")
    p.add_argument("--from", dest="source", metavar="NAME", help="treat the objects as posted by peer NAME")
    p.add_argument("--workers", type=int, metavar="N",
                   help="processes that verify signatures (default: one per core for files over 4 MiB)")
    p.set_defaults(run=cmd_import)

    p = command("verify", "check every object's signature; store nothing")
    p.add_argument("file")
    p.add_argument("--trust-file-cards", action="store_true",
                   help="accept signers whose card is only in the file (never one claiming a node pinned here)")
    p.set_defaults(run=cmd_verify)

    p = command("status", "node id, counts, peers, quarantine")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=cmd_status)

    add_serve_command(command)  # these live with the modules they drive
    add_sync_command(command)
    add_backup_commands(command)
    add_disarm_command(command)
    add_tls_command(command, home)
    add_pairing_commands(command)
    add_watch_commands(command, home)
    add_access_commands(command, {"home": home, "peer": peer, "trust": trust, "token": token, "user": user})
    return parser


def open_node(args):
    from .home import Node
    return Node(Path(args.home))


def _read_card(path: str | None) -> dict:
    from . import wire
    if path is None:
        raise InputError("--card: a card file is required")
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"--card: no such file {path}") from None
    card = wire.loads(raw)
    if not isinstance(card, dict):
        raise InputError(f"--card: {path} does not hold a card (an identity object)")
    return card


def cmd_init(args) -> int:
    from .home import init_home
    identity, key_id = init_home(Path(args.home), args.name, args.country, args.url, args.org)
    print(f"identity {identity}")
    print(f"key {key_id}")
    return 0


def cmd_card(args) -> int:
    node = open_node(args)
    card = node.set_organisation(args.org) if args.org is not None else node.card()
    if args.fingerprint:
        from .trust import card_fingerprint
        print(card_fingerprint(card))
        return 0
    print(json.dumps(card, ensure_ascii=False, indent=2))
    return 0


def cmd_peer_add(args) -> int:
    from .tls import place_peer_file
    node = open_node(args)
    card = None if args.unsigned and args.card is None else _read_card(args.card)
    if bool(args.client_cert) != bool(args.client_key):
        raise InputError("--client-cert and --client-key go together")
    tls = {role: place_peer_file(node.home, getattr(args, role), args.name, role)
           for role in ("ca", "client_cert", "client_key") if getattr(args, role)}
    if card is not None:
        result, released = node.add_peer(args.name, card, args.url, args.token, args.token_env,
                                         args.pull, args.push, signed=not args.unsigned, tls=tls)
    else:
        result, released = node.add_peer(args.name, {}, args.url, args.token, args.token_env,
                                         args.pull, args.push, signed=False, tls=tls)
    print(f"peer {args.name}: {result}" + (f" {card['id']}" if card else ""))
    _print_released(released)
    return 0


def cmd_trust_add(args) -> int:
    node = open_node(args)
    card = _read_card(args.card)
    result, released = node.trust_card(card)
    print(f"{card['id']}: {result}")
    _print_released(released)
    return 0


def _print_released(summary) -> None:
    if summary.counts["accepted"] or summary.counts["rejected"] or summary.counts["duplicate"]:
        print(f"quarantine re-verified: {summary.line()}")


def cmd_key_rotate(args) -> int:
    key_id = open_node(args).rotate_key(revoke_old=args.revoke_old)
    print(f"key {key_id}")
    return 0


def cmd_token_create(args) -> int:
    from .tokens import list_tokens
    node = open_node(args)
    older = sum(1 for row in list_tokens(node.store) if row["peer"] == args.name)
    secret = node.create_token(args.name, keep_old=args.keep_old)
    print(f"token for {args.name} (shown once): {secret}")
    if older and not args.keep_old:
        print(f"{older} older token(s) of {args.name} revoked (--keep-old keeps them)", file=sys.stderr)
    return 0


def cmd_user_add(args) -> int:
    from .users import add_user
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        import getpass
        password = getpass.getpass(f"password for {args.name}: ")
    add_user(open_node(args).store, args.name, args.role, password, language=args.language)
    print(f"user {args.name} ({args.role}) added")
    return 0


def cmd_incident_add(args) -> int:
    from .records import read_record_file
    data = read_record_file(args.file)
    result = open_node(args).add_incident(data)
    print(result.report_id)
    print(result.incident_id)
    return 0


def cmd_incident_show(args) -> int:
    import yaml
    from .corrections import held_incident, record_of
    node = open_node(args)
    print(yaml.safe_dump(record_of(node, held_incident(node, args.id)), allow_unicode=True, sort_keys=False), end="")
    return 0


def cmd_incident_edit(args) -> int:
    from .records import read_record_file
    result = open_node(args).edit_incident(args.id, read_record_file(args.file), args.lower_tlp)
    print(f"{result.incident_id}: corrected ({result.summary.line()})")
    return 0


def cmd_incident_withdraw(args) -> int:
    result = open_node(args).withdraw_incident(args.id, args.reason)
    print(f"{result.incident_id}: withdrawn ({result.summary.line()})")
    return 0


def cmd_sighting_add(args) -> int:
    from .records import read_record_file
    result = open_node(args).add_sighting(args.incident_id, read_record_file(args.file))
    print(f"{result.incident_id}: sighting recorded ({result.summary.line()})")
    return 0


def cmd_opinion(args) -> int:
    result = open_node(args).record_opinion(args.incident_id, args.opinion, args.text)
    print(f"{result.incident_id}: opinion {args.opinion} recorded ({result.summary.line()})")
def cmd_response_add(args) -> int:
    from .records import read_record_file
    result = open_node(args).add_response(args.incident_id, read_record_file(args.file))
    print(result.response_id)
    return 0


def cmd_export(args) -> int:
    open_node(args).export(sys.stdout, feed=args.feed, everything=args.all)
    return 0


def _open_input(path: str):
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: no such file")
    return lambda: p.open("rb")


def cmd_import(args) -> int:
    from . import wire
    opener = _open_input(args.file)
    node = open_node(args)
    with opener() as stream:  # a syntax error anywhere stores nothing
        for _ in wire.iter_objects(stream):
            pass
    # Large files: verify in one process per core while this one stores.
    workers = args.workers
    if workers is None:
        workers = (os.cpu_count() or 1) if Path(args.file).stat().st_size > PARALLEL_IMPORT_BYTES else 0
    with opener() as stream:
        summary = node.import_stream(stream, args.source, workers=workers)
    for failure in summary.failures[:50]:
        print(f"rejected {failure.id}: {failure.reason}", file=sys.stderr)
    print(summary.line())
    return 1 if summary.counts["rejected"] else 0


def cmd_verify(args) -> int:
    failures = open_node(args).verify_stream(_open_input(args.file), trust_file_cards=args.trust_file_cards)
    for _oid, reason in failures:  # each reason names its object once (Node.verify_stream)
        print(reason)
    if not failures:
        print("all signatures verify")
    return 1 if failures else 0


def cmd_status(args) -> int:
    from .timefmt import us_to_taxii
    try:
        node = open_node(args)
    except ConfigError as exc:
        return _status_of_broken_config(args, exc)
    status = node.status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(f"node {status['name']} ({status['country']}) {status['identity']}")
    print(printable(f"organisation {status['organisation']}"))
    print(f"key {status['key_id']}")
    counts = status["counts"]
    print("objects by type: " + (", ".join(f"{k} {v}" for k, v in counts["by_type"].items()) or "none"))
    print("objects by TLP: " + (", ".join(f"{k} {v}" for k, v in counts["by_tlp"].items()) or "none"))
    print(f"quarantine: {counts['quarantine']}; rejected so far: {counts['rejected']}")
    print(printable(f"trusted nodes: {', '.join(c['name'] or c['identity'] for c in status['trusted'])}"))
    for peer in status["peers"]:
        when = us_to_taxii(peer["last_success"]) if peer.get("last_success") else "never"
        line = (f"peer {peer['name']}: last sync {when}; received {peer.get('received', 0)}, accepted "
                f"{peer.get('accepted', 0)}, quarantined {peer.get('quarantined', 0)}, rejected "
                f"{peer.get('rejected', 0)}")
        if peer.get("last_error"):
            line += f"; last error: {peer['last_error']}"
        print(logs.printable(line))  # a last error may quote the peer's own words
    return 0


def _status_of_broken_config(args, error: ConfigError) -> int:
    """`status` while config.yaml or a feed file does not load: whether a running
    `qalqan serve` recorded that it keeps its last good configuration (confwatch.py),
    then the error itself, as for any command (exit 2)."""
    from .confwatch import recorded_error
    serving = recorded_error(Path(args.home))
    if args.json:
        print(json.dumps({"config_error": error.message,
                          "serving_last_good_since": serving and serving.get("since")}, indent=2))
    elif serving:
        print(f"the running node keeps its last good configuration (the edit was seen {serving.get('since')})")
    raise error


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "home"):
        args.home = _home_default()
    level = getattr(args, "log_level", None) or os.environ.get("QALQAN_LOG_LEVEL") or "info"
    if level not in logs.LEVELS:
        parser.error(f"QALQAN_LOG_LEVEL: {level!r} is not one of {', '.join(logs.LEVELS)}")
    logs.configure(level, getattr(args, "log_format", "text"))
    try:
        return args.run(args)
    except USAGE_ERRORS as exc:
        print(f"qalqan: {exc.message}", file=sys.stderr)
        return 2
    except QalqanError as exc:
        print(f"qalqan: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
