"""Logging, configured once at the edge (`qalqan --log-level --log-format`).

Every module logs under one name tree, `qalqan.*` (`get_logger(__name__)` turns
`node.sync.loop` into `qalqan.sync.loop`), so an operator can raise or lower one
part. Lines go to stderr, timestamped in UTC: plain text by default, or one JSON
object per line (`--log-format json`) for a log shipper. A record may carry
structured `fields` (the access log does); the JSON form puts them at the top level.

Every message is passed through `printable`, so text a peer or client chose cannot
put terminal escapes or forged lines into the log. Nothing here knows what a secret is: callers never pass tokens, cookies, passwords
or Authorization headers to a logger.
"""
from __future__ import annotations

import json
import logging
import sys
import time

ROOT = "qalqan"
LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")


def get_logger(module: str) -> logging.Logger:
    """The logger of a module under the `qalqan` tree: node.taxii.routes → qalqan.taxii.routes."""
    if module == "node" or module.startswith("node."):
        module = ROOT + module[len("node"):]
    return logging.getLogger(module)


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {printable(record.getMessage())}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": _timestamp(record), "level": record.levelname, "logger": record.name,
                 "message": printable(record.getMessage())}
        entry.update({key: printable(value) if isinstance(value, str) else value
                      for key, value in (getattr(record, "fields", None) or {}).items()})
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record is emitted, not when logging was
    configured: a program (or a test) that swaps stderr keeps getting the lines."""

    def __init__(self):
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure(level: str = "info", fmt: str = "text", stream=None) -> None:
    """Send log records to stderr. `qalqan.*` logs at `level`; other libraries only at
    warning and above (or `level`, if higher), so their debug chatter stays out."""
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.set_name(ROOT)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == ROOT]:  # configured again: replace ours only
        root.removeHandler(old)
    root.addHandler(handler)
    numeric = logging.getLevelName(level.upper())
    root.setLevel(max(numeric, logging.WARNING))
    logging.getLogger(ROOT).setLevel(numeric)
    logging.captureWarnings(True)


def printable(text: str) -> str:
    """Text from outside (a peer's error title, a name tried) as it may be shown on a
    terminal, in a log line or on a page: every character that is not printable
    (control characters such as ESC, line breaks, bidirectional overrides) written as
    its escape, `\x1b`, so it cannot move the cursor, recolour or forge a line. The
    one function every display of such text goes through."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def shown(value: str | None, limit: int = 40) -> str:
    """A caller-supplied string (a user or peer name tried) made safe for one log line:
    truncated, control characters escaped."""
    if value is None:
        return "-"
    return printable(value[:limit] + ("…" if len(value) > limit else ""))
