"""Reading incident record files (YAML or JSON) strictly and with clear errors."""
from __future__ import annotations

from pathlib import Path

import yaml

from . import strictyaml, wire
from .errors import InputError

MAX_RECORD_BYTES = 1024 * 1024


def read_record_file(path: Path | str) -> object:
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    if size > MAX_RECORD_BYTES:
        raise InputError(f"{path}: larger than {MAX_RECORD_BYTES // 1024} KiB, too large for an incident record")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 (invalid byte at offset {exc.start})") from None
    if path.suffix.lower() == ".json":
        return wire.loads(text)
    try:
        return strictyaml.load(text)
    except strictyaml.DuplicateKey as exc:
        raise InputError(f"{path}: {exc.key}: the field appears twice (line {exc.line})") from None
    except strictyaml.Refused as exc:
        raise InputError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}: not valid YAML or JSON{where}") from None
