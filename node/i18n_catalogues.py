"""The message catalogues as files: extract the messages from the code (babel.cfg),
write the POT, fill the English catalogue, and say what a catalogue lacks or keeps
that the code no longer has. scripts/i18n.sh and tests/test_i18n_catalogues.py use it;
the running node only reads the compiled catalogues (node/i18n.py).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

REPO = Path(__file__).resolve().parent.parent
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
# _l: node/i18n.py's lazy gettext (form labels); N_: a message marked where it is defined.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "N_": None}
COMMENT_TAGS = ("Translators:",)


def extract(root: Path = REPO) -> Catalog:
    """Every message of the code under root/node, as babel.cfg says where to look."""
    with open(root / "babel.cfg", encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    catalog = Catalog(project="Qalqan", charset="utf-8", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
            str(root), method_map, options_map, keywords=KEYWORDS, comment_tags=COMMENT_TAGS,
            strip_comment_tags=True):
        catalog.add(message, None, [(filename, None)], auto_comments=comments, context=context)
    return catalog


def write_pot(path: Path, root: Path = REPO) -> None:
    with open(path, "wb") as f:
        write_po(f, extract(root), sort_output=True, omit_header=False, include_lineno=False, width=100)


def read(path: Path, locale: str | None = None) -> Catalog:
    with open(path, "rb") as f:
        return read_po(f, locale=locale)


def _key(message) -> tuple:
    msgid = message.id if isinstance(message.id, str) else message.id[0]
    return (message.context, msgid)


@dataclass
class Problems:
    untranslated: list[str]  # in the code, but empty or fuzzy (or missing) in the catalogue
    stale: list[str]  # in the catalogue, no longer in the code

    def __bool__(self) -> bool:
        return bool(self.untranslated or self.stale)


def _translated(message) -> bool:
    if message.fuzzy:
        return False
    strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
    return bool(strings) and all(isinstance(s, str) and s.strip() for s in strings)


def problems(code: Catalog, catalogue: Catalog) -> Problems:
    held = {_key(m): m for m in catalogue if m.id}
    wanted = {_key(m) for m in code if m.id}
    untranslated = sorted(k[1] for k in wanted if k not in held or not _translated(held[k]))
    stale = sorted(k[1] for k in held if k not in wanted)
    return Problems(untranslated, stale)


def fill_english(path: Path) -> None:
    """English is the source language: each msgstr is its msgid (plural: singular, plural)."""
    catalog = read(path, "en")
    for message in catalog:
        if not message.id:
            continue
        message.string = tuple(message.id) if isinstance(message.id, (list, tuple)) else message.id
        message.flags.discard("fuzzy")
    with open(path, "wb") as f:
        write_po(f, catalog, sort_output=True, include_lineno=False, width=100)


if __name__ == "__main__":
    command, target = sys.argv[1], Path(sys.argv[2])
    {"extract": write_pot, "fill-english": fill_english}[command](target)
