"""Search keys for the region's languages: word forms and scripts.

Qalqan's analysts write Kazakh, Uzbek, Russian, Azerbaijani, Turkish and Kyrgyz, and
Kazakh, Uzbek and Azerbaijani in Cyrillic or in Latin script. A text's search keys are,
for each word, its transliteration key (translit.py: one plain Latin spelling for both
scripts) and the key of its stem (stem.py: Snowball for Russian and Turkish, our suffix
rules for the Turkic languages). A query word matches a text when its transliteration
key begins one of the text's keys or one of its stems' keys is one of them, so
`граница` finds `границы`, `шекара` finds `şekaralarda`, `гран` finds `граница`.

The language of a word is not known (a Kazakh word may look Russian, an incident mixes
languages), so every word gets the keys of each reading that fits its letters.

    fold(text) -> str             lower-case, script-folded, punctuation-free text
    words(text) -> list[str]      the same, as a list of words
    search_keys(*texts) -> str    the keys to index, space-separated, each once
    query_words(text) -> list     per query word, the keys it may match (QueryWord)
    is_language_word(token) -> bool   whether keys serve a query token (not an id or URL)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .stem import snowball_stem, turkic_stems
from .translit import (APOSTROPHES, NOT_AZ_CYRILLIC, TURKIC_CYRILLIC, fold, fold_word, lowered, raw_words,
                       text_is_azerbaijani_cyrillic, words)

__all__ = ["fold", "words", "search_keys", "query_words", "QueryWord", "is_language_word"]

_NO_APOSTROPHES = str.maketrans("", "", APOSTROPHES)
# A word in plain ASCII letters may be English (border, matter): its Turkic stem keeps four
# letters, so that no short stem (bor, mat) ties it to another language's word.
ENGLISH_LIKE_MIN_STEM = 4


@lru_cache(maxsize=50_000)  # a word seen again costs a look-up; bounded memory
def word_keys(word: str, azerbaijani_cyrillic: bool = False, russian: bool = True) -> tuple[str, ...]:
    """A lower-case word's keys: its transliteration key, then its stems' keys (the Russian
    Snowball stem only with `russian`: not in a text that is Kazakh, Kyrgyz or Uzbek)."""
    key = fold_word(word, azerbaijani_cyrillic)
    if not key:
        return ()
    keys = [key, *turkic_stems(key, ENGLISH_LIKE_MIN_STEM if word.isascii() else 3)]
    stem = snowball_stem(word.translate(_NO_APOSTROPHES), russian)
    if stem:
        keys.append(fold_word(stem, azerbaijani_cyrillic))
    return tuple(dict.fromkeys(k for k in keys if k))


def _reading(low: str) -> tuple[bool, bool]:
    """(Azerbaijani Cyrillic, may be Russian) for a lower-cased text."""
    letters = set(low)
    return text_is_azerbaijani_cyrillic(low), letters.isdisjoint(TURKIC_CYRILLIC)


def search_keys(*texts: str) -> str:
    """The keys of texts for the index: every word's keys, each key once. Each text is
    read on its own (a Russian title, a Kazakh claim)."""
    keys: dict[str, None] = {}
    for text in texts:
        low = lowered(text)
        azerbaijani, russian = _reading(low)
        for word in raw_words(low):
            keys.update(dict.fromkeys(word_keys(word, azerbaijani, russian)))
    return " ".join(keys)


# A word as a language has it: letters of any script, maybe joined by hyphens or
# apostrophes (миш-миш, o'zbek), maybe with punctuation around («граница»,). Other
# tokens (ids, URLs, accounts, hashes, numbers) are matched as typed, not by their keys.
_LANGUAGE_WORD = re.compile(rf"[^\w]*[^\W\d_]+(?:[-{APOSTROPHES}][^\W\d_]+)*[^\w]*")


def is_language_word(token: str) -> bool:
    """Whether a token of a query is a word the search keys serve (see _LANGUAGE_WORD)."""
    return _LANGUAGE_WORD.fullmatch(token) is not None


@dataclass(frozen=True)
class QueryWord:
    """What one word of a query may match in a text's keys: a key that begins with one of
    `prefixes` (the word's transliteration keys: the word, or its beginning, in either
    script) or a key equal to one of `stems` (its stems' keys: another form of it)."""

    prefixes: tuple[str, ...]
    stems: tuple[str, ...]


def query_words(text: str) -> list[QueryWord]:
    """The words of a query, each with the keys it may match. A word of one letter has
    none (it would match every key that begins so: slow, and no help).

    A text's г is read as Azerbaijani Cyrillic q when the whole indexed text looks
    Azerbaijani; a query of a few words may not show it, so it is read both ways
    unless it has a letter only Azerbaijani or only another alphabet has."""
    low = lowered(text)
    azerbaijani, russian = _reading(low)
    if azerbaijani:
        readings = (True,)
    elif "г" in low and set(low).isdisjoint(NOT_AZ_CYRILLIC):
        readings = (False, True)
    else:
        readings = (False,)
    out = []
    for word in raw_words(low):
        prefixes: dict[str, None] = {}
        stems: dict[str, None] = {}
        for reading in readings:
            key, *others = word_keys(word, reading, russian) or ("",)
            if len(key) > 1:
                prefixes[key] = None
                stems.update(dict.fromkeys(k for k in others if not k.startswith(key)))
        if prefixes:
            out.append(QueryWord(tuple(prefixes), tuple(k for k in stems if k not in prefixes)))
    return out
