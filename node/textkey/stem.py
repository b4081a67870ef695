"""Word forms: Snowball stemmers for Russian and Turkish (PyStemmer), and suffix rules of
our own for Kazakh, Uzbek, Azerbaijani and Kyrgyz, where no Snowball stemmer exists.

The suffix rules work on the transliteration key (translit.py), so one list serves
both scripts, and folding has already merged most vowel-harmony variants (ы і ı i → i,
ұ ү u ü → u, ә ə e → e, қ k → k, ң n → n): Kazakh -да/-де/-та/-те, Kyrgyz -до/-дө/-то/-тө
and Azerbaijani -da/-də are the keys da, de, ta, te, do, to.

They are conservative: nominal endings only (no verbs, no derivation), in the order the
languages stack them: a word is stem + plural + possessive + case (Kazakh
шекара-лар-ымыз-да), so at most one ending of each, taken from the end: a case ending,
then a possessive one, then a plural one; at each step the longest ending that fits.
A word keeps at least three letters and a vowel (four after a one-letter ending:
-a, -e, -i, -u, -m, -n, and four for a word in plain ASCII letters, which may be English:
border is no bor-der). An ending with a rounded vowel (Kyrgyz -дор, -нун; Azerbaijani
-un) needs a rounded vowel before it, as vowel harmony puts it there: реформатор keeps
its -тор. The stem's last g, b, d become k, p, t (Azerbaijani and Turkish voice them
before a vowel ending: qıtlıq, qıtlığı).

Stripping is not analysis: it maps the forms of a word to the key of its stem
(шекарасы, шекарадан, шекараларымызда → shekara) and may map a few unrelated words
together; a query needs all its words, which keeps that rare. A query word also matches
the beginning of a text's word (search_keys keeps every word's own key too), so the
base form шекара needs no stripping to find them.
"""
from __future__ import annotations

import re
import threading

import Stemmer

# Endings as keys (translit.py): the vowel-harmony and consonant-assimilation variants
# of Kazakh (kk), Kyrgyz (ky), Uzbek (uz) and Azerbaijani (az); Turkish shares most.
CASE = (
    "nin nun din dun tin tun in un"  # genitive: kk -ның/-дың/-тың, ky -нын/-нун, az -nın/-nun/-ın
    " ni nu di du ti tu i u n"  # accusative: kk ky -ны/-ды/-ты, uz -ni, az -nı/-ı/-u, kk after 3sg -н
    " ga ge go ka ke ko na ne no ia ie a e"  # dative: kk -ға/-ке/-на, ky -го, uz -ga/-qa, az -ya/-a/-ə
    " da de do ta te to nda nde ndo"  # locative: -да/-де/-та/-те/-нда, ky -до/-то, az -da/-də
    " dan den don tan ten ton nan nen non ndan nden ndon"  # ablative
    " men ben pen"  # instrumental: kk -мен/-бен/-пен
    " dagi degi tagi tegi ndagi ndegi daki deki taki teki"  # where-attributive: kk -дағы, uz -dagi, az -dakı
    " gacha kacha"  # uz: up to
)
POSSESSIVE = ("m im um n in un i u si su miz muz imiz umuz niz nuz iniz uniz"  # 1sg 2sg 3sg 1pl 2pl
              " lari leri")  # 3pl: -лары/-лері, -ları/-ləri
PLURAL = "lar ler lor dar der dor tar ter tor"  # kk ky: -лар/-лер/-дар/-тар…, ky -лор/-дөр, uz az -lar/-lər
# (slot, ending), longest first; slots are taken in this order, each at most once.
ENDINGS = tuple(sorted(((slot, e) for slot, group in enumerate((CASE, POSSESSIVE, PLURAL)) for e in group.split()),
                       key=lambda se: (-len(se[1]), se[0])))
_VOWELS = frozenset("aeiou")
_ROUNDED = frozenset("ou")
# A stem's last consonant voices before a vowel ending (az tr qıtlıq → qıtlığı, kitab → kitabı):
# the key of a stem ends in the voiceless one.
_DEVOICED = {"g": "k", "b": "p", "d": "t"}


def turkic_stems(key: str, min_stem: int = 3) -> list[str]:
    """A word's key (translit.fold_word) without its Turkic nominal endings, one ending
    more at each step: шекараларымызда → shekaralarimiz, shekaralar, shekara. Each step
    is kept, as an ending may also be the end of a stem (-im of seçim, -m of deprem)."""
    if not key.isascii() or not key.isalpha():
        return []  # numbers, ids, other scripts
    stems = []
    slot = -1
    while True:
        found = next(((s, e) for s, e in ENDINGS if s > slot and key.endswith(e) and _can_strip(key, e, min_stem)),
                     None)
        if found is None:
            return stems
        slot, ending = found
        key = key[:-len(ending)]
        stems.append(key[:-1] + _DEVOICED.get(key[-1], key[-1]))


def _can_strip(key: str, ending: str, min_stem: int) -> bool:
    stem = key[:-len(ending)]
    if len(stem) < max(min_stem, 4 if len(ending) == 1 else 3):
        return False
    vowels = [c for c in stem if c in _VOWELS]
    return bool(vowels) and (_ROUNDED.isdisjoint(ending) or vowels[-1] in _ROUNDED)


# Words Snowball may take: only the letters of its alphabet (a Kazakh word with қ is no
# Russian word; an Uzbek one with q or x no Turkish one).
RUSSIAN_WORD = re.compile(r"[а-яё]+")
TURKISH_WORD = re.compile(r"[a-pr-vyzçğıöşüâîû]+")
_stemmers = threading.local()  # a PyStemmer stemmer is not to be shared between threads


def snowball(language: str, word: str) -> str:
    stemmer = getattr(_stemmers, language, None)
    if stemmer is None:
        stemmer = Stemmer.Stemmer(language)
        setattr(_stemmers, language, stemmer)
    return stemmer.stemWord(word)


def snowball_stem(word: str, russian: bool = True) -> str | None:
    """The Russian or Turkish Snowball stem of a lower-case word in that alphabet, else None
    (Russian only with `russian`)."""
    if russian and RUSSIAN_WORD.fullmatch(word):
        return snowball("russian", word.replace("ё", "е"))
    if TURKISH_WORD.fullmatch(word):
        return snowball("turkish", word)
    return None
