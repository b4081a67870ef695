"""Reading JSON from outside strictly: duplicate keys, NaN/Infinity, lone surrogates,
numbers JSON canonicalisation cannot carry exactly (integers beyond 2^53, floats that
overflow) and nesting deeper than any STIX object needs are refused, each with one
sentence (step 1 of receiving, docs/signing.md).

`iter_objects` streams the `objects` array of a bundle or TAXII envelope from a
file, one object at a time, so a large import holds one object in memory, not all.
"""
from __future__ import annotations

import json
import re
from typing import IO, Iterator

from .errors import InputError

MAX_OBJECT_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64  # STIX objects nest a few levels (extensions, hashes); 64 leaves room
MAX_SAFE_INTEGER = 2 ** 53
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _no_duplicate_keys(pairs):
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise InputError(f"duplicate key {key!r} in JSON object")
            seen.add(key)
    return obj


def _no_constant(name):
    raise InputError(f"{name} is not allowed in JSON")


def _exact_int(text: str) -> int:
    if len(text) > 17 or abs(int(text)) > MAX_SAFE_INTEGER:
        raise InputError(f"the number {text[:20]}{'…' if len(text) > 20 else ''} is beyond 2^53, "
                         "which JSON canonicalisation cannot carry exactly")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise InputError(f"the number {text[:20]}{'…' if len(text) > 20 else ''} overflows")
    return value


_decoder = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant,
                            parse_int=_exact_int, parse_float=_finite_float)


def _decode(text: str, pos: int = 0) -> tuple[object, int]:
    """One JSON value from `text` at `pos`, nested no deeper than MAX_DEPTH."""
    try:
        value, end = _decoder.raw_decode(text, pos)
    except RecursionError:
        raise InputError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    # Counting brackets is cheap and bounds the depth; walk the value only when it might be deep.
    if text.count("{", pos, end) + text.count("[", pos, end) > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise InputError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value, end


def _depth(value) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return deepest


def loads(data: bytes | str) -> object:
    """Parse one JSON document strictly."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"body is not UTF-8 (byte {exc.start})") from None
    try:
        start = _WHITESPACE.match(data).end()
        value, end = _decode(data, start)
        if _WHITESPACE.match(data, end).end() != len(data):
            raise json.JSONDecodeError("Extra data", data, end)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if "\\u" in data and _has_lone_surrogate(value):
        raise InputError("lone surrogate in JSON string")
    return value


def _has_lone_surrogate(value) -> bool:
    if isinstance(value, str):
        return bool(_LONE_SURROGATE.search(value))
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


class _Reader:
    """A window over a text stream that JSONDecoder.raw_decode can work on."""

    def __init__(self, stream: IO[bytes], chunk: int = 1 << 20):
        self.stream, self.chunk = stream, chunk
        self.buf, self.pos, self.eof = "", 0, False
        self._pending = b""

    def fill(self) -> bool:
        if self.eof:
            return False
        raw = self.stream.read(self.chunk)
        if not raw:
            self.eof = True
            if self._pending:
                raise InputError("file is not UTF-8 (truncated character at the end)")
            return False
        raw = self._pending + raw
        try:
            text = raw.decode("utf-8")
            self._pending = b""
        except UnicodeDecodeError as exc:
            if exc.start >= len(raw) - 3 and exc.reason == "unexpected end of data":
                text, self._pending = raw[: exc.start].decode("utf-8"), raw[exc.start :]
            else:
                raise InputError("file is not UTF-8") from None
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        return True

    def skip_ws(self) -> None:
        while True:
            self.pos = _WHITESPACE.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or not self.fill():
                return

    def peek(self) -> str:
        self.skip_ws()
        return self.buf[self.pos : self.pos + 1]

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = self.buf[self.pos : self.pos + 1] or "end of file"
            raise InputError(f"malformed JSON: expected {char!r}, found {found!r}")
        self.pos += 1

    def value(self):
        self.skip_ws()
        while True:
            try:
                value, end = _decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if len(self.buf) - self.pos > MAX_OBJECT_BYTES:
                    raise InputError(f"an object is larger than {MAX_OBJECT_BYTES} bytes") from None
                if self.fill():
                    continue
                raise InputError(f"malformed JSON: {exc.msg}") from None
            # A number or literal cut at the buffer's end parses short: read on to be sure.
            if end == len(self.buf) and not self.eof and self.fill():
                continue
            text = self.buf[self.pos : end]
            self.pos = end
            if "\\u" in text and _has_lone_surrogate(value):
                raise InputError("lone surrogate in JSON string")
            return value


def iter_objects(stream: IO[bytes], chunk: int = 1 << 20) -> Iterator[dict]:
    """Yield each element of the top-level `objects` array of a bundle or envelope."""
    reader = _Reader(stream, chunk)
    reader.expect("{")
    keys: set[str] = set()
    found = False
    if reader.peek() == "}":
        reader.pos += 1
        return
    while True:
        key = reader.value()
        if not isinstance(key, str):
            raise InputError("malformed JSON: object key is not a string")
        if key in keys:
            raise InputError(f"duplicate key {key!r} in JSON object")
        keys.add(key)
        reader.expect(":")
        if key == "objects":
            found = True
            yield from _iter_array(reader)
        else:
            reader.value()
        if reader.peek() == ",":
            reader.pos += 1
            continue
        reader.expect("}")
        break
    if reader.peek() != "":
        raise InputError("malformed JSON: data after the end of the document")
    if not found and keys - {"more", "next"}:
        raise InputError("the file has no 'objects' list (expected a STIX bundle or TAXII envelope)")


def _iter_array(reader: _Reader) -> Iterator[dict]:
    reader.expect("[")
    if reader.peek() == "]":
        reader.pos += 1
        return
    index = 0
    while True:
        item = reader.value()
        if not isinstance(item, dict):
            raise InputError(f"objects[{index}] is not a JSON object")
        yield item
        index += 1
        if reader.peek() == ",":
            reader.pos += 1
            continue
        reader.expect("]")
        return
