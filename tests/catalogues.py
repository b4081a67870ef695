"""The compiled message catalogues as a test reads them: what a page in LOCALE says for
a message, by gettext from node/translations/LOCALE/LC_MESSAGES/messages.mo (made by
scripts/setup.sh), so tests never hard-code a translation."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.support import Translations

from node.i18n import LOCALES

TRANSLATIONS = Path(__file__).resolve().parent.parent / "node" / "translations"


@lru_cache(maxsize=None)
def catalogue(locale: str) -> Translations:
    assert locale in LOCALES, locale
    mo = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo"
    assert mo.is_file(), f"{mo} is missing: scripts/setup.sh compiles the catalogues"
    return Translations.load(str(TRANSLATIONS), [locale])


def say(locale: str, message: str, **values) -> str:
    """The message as a page in `locale` shows it (filled with `values`)."""
    text = catalogue(locale).gettext(message)
    return text % values if values else text
