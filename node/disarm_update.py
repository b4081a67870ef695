"""Installing a newer DISARM release into a node's home: `qalqan disarm update FILE|URL`.

The bundle is fetched (a file, or http(s) with requests), judged by the same rule as
a bundle named in config (node.disarm.parse_bundle), written atomically to
home/data/disarm/ and only then named by `disarm:` in config.yaml, through the
config module's locked, validating editor. Anything wrong is one sentence and
leaves the home as it was. `qalqan disarm show` says which release is in force.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from . import config as config_mod
from .disarm import Disarm, NotADisarmBundle, compact_reference, parse_bundle, with_countermeasures
from .errors import InputError

MAX_BUNDLE_BYTES = 64 * 1024 * 1024
INSTALL_DIR = Path("data") / "disarm"


def fetch(source: str, timeout: float = 30) -> bytes:
    """The bytes at a path or an http(s) URL; InputError naming the source otherwise."""
    if source.startswith(("http://", "https://")):
        import requests
        try:
            response = requests.get(source, timeout=timeout, stream=True)
            response.raise_for_status()
            raw = response.raw.read(MAX_BUNDLE_BYTES + 1, decode_content=True)
        except requests.RequestException as exc:
            raise InputError(f"{source}: could not download it ({_reason(exc)}); nothing changed") from None
    else:
        try:
            with open(source, "rb") as f:
                raw = f.read(MAX_BUNDLE_BYTES + 1)
        except OSError as exc:
            raise InputError(f"{source}: cannot be read ({exc.strerror}); nothing changed") from None
    if len(raw) > MAX_BUNDLE_BYTES:
        raise InputError(f"{source}: larger than {MAX_BUNDLE_BYTES // (1024 * 1024)} MiB, "
                         "not a DISARM bundle; nothing changed")
    return raw


def install(home: Path, source: str, timeout: float = 30) -> tuple[Path, Disarm]:
    """Check the DISARM bundle at `source`, copy it into the home and name it in config."""
    home = Path(home)
    config_mod.load(home)  # a home that does not load is not edited
    raw = fetch(source, timeout)
    digest = hashlib.sha256(raw).hexdigest()
    try:
        reference = compact_reference(parse_bundle(raw), source_sha256=digest)
    except NotADisarmBundle as exc:
        raise InputError(f"{source} {exc}: not installed, nothing changed") from None
    relative = INSTALL_DIR / f"{_stem(source)}-{digest[:12]}.json"
    target = home / relative
    existed = target.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".json.tmp")
    with open(tmp, "wb") as f:
        f.write(raw)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    try:
        config_mod.update_config(home, lambda data: data.__setitem__("disarm", str(relative)))
    except BaseException:
        if not existed:  # leave the home as it was
            target.unlink(missing_ok=True)
        raise
    return target, Disarm.from_reference(with_countermeasures(reference), source=str(target))


def _stem(source: str) -> str:
    name = Path(urlsplit(source).path if "://" in source else source).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "disarm"


def _reason(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if response is not None:
        return f"HTTP {response.status_code}"
    return type(exc).__name__


def describe(disarm: Disarm) -> list[str]:
    release = disarm.release
    return [f"source: {disarm.source}",
            f"release: {release.get('name', 'DISARM Framework')}, modified {release.get('modified') or 'unknown'}",
            f"tactics: {len(disarm.tactics)}; techniques: {len(disarm.techniques)}",
            f"countermeasures: {countermeasures_line(disarm)}",
            "DISARM Framework by the DISARM Foundation, CC BY-SA 4.0"]


def countermeasures_line(disarm: Disarm) -> str:
    count = len(disarm.countermeasures)
    if disarm.source != "built-in" and disarm.countermeasures_source == "built-in":
        return f"{count}, the built-in list (the bundle has no course-of-action objects)"
    return str(count)


def add_disarm_command(command) -> None:
    home = argparse.ArgumentParser(add_help=False)  # --home after the subcommand too, as elsewhere
    home.add_argument("--home", default=argparse.SUPPRESS, help="the node's home folder")
    sub = command("disarm", "the DISARM framework this node knows").add_subparsers(dest="disarm_command",
                                                                                    required=True)
    p = sub.add_parser("update", parents=[home],
                       help="check a DISARM STIX bundle (FILE or http(s) URL) and make it this node's DISARM")
    p.add_argument("source", metavar="FILE|URL")
    p.add_argument("--timeout", type=float, default=30, help="seconds to wait for a download")
    p.set_defaults(run=_cmd_update)
    p = sub.add_parser("show", parents=[home], help="which DISARM release this node uses")
    p.set_defaults(run=_cmd_show)


def _cmd_update(args) -> int:
    path, disarm = install(Path(args.home), args.source, args.timeout)
    print(f"installed {path}: {len(disarm.tactics)} tactics, {len(disarm.techniques)} techniques; "
          f"countermeasures: {countermeasures_line(disarm)}")
    print("config.yaml: disarm set; a running node picks it up with the configuration")
    return 0


def _cmd_show(args) -> int:
    config = config_mod.load(Path(args.home))
    for line in describe(Disarm.load(config.disarm_path)):
        print(line)
    return 0
