"""One transliteration key for the region's scripts: Kazakh, Uzbek and Azerbaijani in
Cyrillic and in Latin, Turkish, Kyrgyz and Russian all fold to the same plain Latin
letters, so the same word in either script gives the same key.

The key is lower-case ASCII for these languages (other scripts pass through
lower-cased), words are separated by one space, punctuation is gone. It is a search
key, not a transliteration a person should read: it merges letters that the scripts'
conventions disagree on, and spends a little precision on it:

  vowels    ә ə ä → e     ө ö ў oʻ → o     ү ұ ü ū → u     ы і и й ı y ј → i
            я → ia   ю → iu   ё → io   (Latin "ya", "yu", "yo" fold the same way)
  consonants  қ q k → k   ғ ğ gʻ ҝ → g   ң ñ ng → n   ш ş sh щ → sh   ч ç ch → ch
            ж j zh → j   х һ ҳ x kh → h   ҹ c → c   ц ts → s   ъ ь ʼ → (nothing)
  Latin "ye" at the start of a word → e (Uzbek "yer" is Cyrillic "ер").

q and k are one letter in the key (Kazakh and Uzbek қ/q against к/k; informal Latin
Kazakh writes k), and so are ng and n (Uzbek ng, Kazakh ң, informal Latin Kazakh n), and
ts and s (Uzbek Latin writes ц as s or ts: vaksina, konstitutsiya).

Azerbaijani Cyrillic writes the sound of Latin q with г, where every other Cyrillic
alphabet's г is g: a text is read as Azerbaijani Cyrillic when it has ҹ, ҝ or ј, or has
ә without a Kazakh or Uzbek letter (қ ң ұ і ў ҳ). `fold_word` takes that decision as an
argument; `text_is_azerbaijani_cyrillic` makes it for a whole text.

Apostrophes inside a word (Uzbek oʻ, gʻ and the tutuq belgisi ʼ, typed as ʻ ʼ ’ ‘ ' ` ´)
belong to the word and fold away; elsewhere they separate words like any punctuation.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

APOSTROPHES = "'ʻʼ’‘`´ʹ′"
# A word: letters and digits, with apostrophes only between them (o'zbek, ma'no).
_WORD = re.compile(rf"[^\W_]+(?:[{APOSTROPHES}][^\W_]+)*")
_COMBINING = re.compile(r"[\u0300-\u036f]")
# Latin spellings of one sound that the letter table cannot see one letter at a time.
_LATIN_DIGRAPHS = re.compile(r"^ye|kh|zh")
_DIGRAPH_KEY = {"ye": "e", "kh": "h", "zh": "j"}

_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "ғ": "g", "ҝ": "g", "д": "d", "е": "e", "ё": "io", "ж": "j",
    "з": "z", "и": "i", "й": "i", "і": "i", "ї": "i", "ј": "i", "к": "k", "қ": "k", "л": "l", "м": "m",
    "н": "n", "ң": "n", "о": "o", "ө": "o", "ў": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u",
    "ұ": "u", "ү": "u", "ф": "f", "х": "h", "һ": "h", "ҳ": "h", "ц": "s", "ч": "ch", "ҹ": "c", "ш": "sh",
    "щ": "sh", "ъ": "", "ы": "i", "ь": "", "э": "e", "є": "e", "ю": "iu", "я": "ia", "ә": "e", "ґ": "g",
}
_LATIN = {
    "ə": "e", "ä": "e", "ö": "o", "ü": "u", "ū": "u", "ı": "i", "y": "i", "ý": "i", "ş": "sh", "ç": "ch",
    "ğ": "g", "ǵ": "g", "ñ": "n", "ń": "n", "q": "k", "x": "h", **{mark: "" for mark in APOSTROPHES},
}
_TABLE = str.maketrans({**_CYRILLIC, **_LATIN})
_AZ_TABLE = str.maketrans({**_CYRILLIC, **_LATIN, "г": "k"})

AZ_CYRILLIC_ONLY = frozenset("ҹҝј")
NOT_AZ_CYRILLIC = frozenset("қңұіўҳ")
# Letters of the Kazakh, Kyrgyz, Uzbek and Azerbaijani Cyrillic alphabets that Russian lacks.
TURKIC_CYRILLIC = frozenset("әғқңөұүһіўҳҹҝј")


def text_is_azerbaijani_cyrillic(lowered: str) -> bool:
    """Whether a lower-cased text reads as Azerbaijani Cyrillic (its г is Latin q)."""
    letters = set(lowered)
    return bool(letters & AZ_CYRILLIC_ONLY) or ("ә" in letters and not letters & NOT_AZ_CYRILLIC)


def lowered(text: str) -> str:
    """NFC, lower case; Turkish/Azerbaijani İ becomes i (not i plus a combining dot)."""
    return unicodedata.normalize("NFC", text).replace("İ", "i").lower()


def raw_words(text: str) -> list[str]:
    """The words of a lower-cased text, apostrophes inside words kept."""
    return _WORD.findall(text)


@lru_cache(maxsize=50_000)
def fold_word(word: str, azerbaijani_cyrillic: bool = False) -> str:
    """One lower-case word (from `raw_words`) → its key; "" when nothing of it is left."""
    word = _LATIN_DIGRAPHS.sub(lambda m: _DIGRAPH_KEY[m.group()], word)
    key = word.translate(_AZ_TABLE if azerbaijani_cyrillic else _TABLE)
    if not key.isascii():
        key = _COMBINING.sub("", unicodedata.normalize("NFD", key))  # é → e, â → a; other scripts stay
        key = unicodedata.normalize("NFC", key)
    return "".join(c for c in key if c.isalnum()).replace("ng", "n").replace("ts", "s")


def words(text: str) -> list[str]:
    """The text's words as keys: lower-case, script-folded, without punctuation."""
    low = lowered(text)
    azerbaijani = text_is_azerbaijani_cyrillic(low)
    return [key for key in (fold_word(w, azerbaijani) for w in raw_words(low)) if key]


def fold(text: str) -> str:
    """The text as one key string: `words(text)` joined by single spaces."""
    return " ".join(words(text))
