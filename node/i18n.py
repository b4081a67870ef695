"""The languages of the UI and the public pages (Flask-Babel): which locales exist,
how a request's locale is chosen, and dates and numbers in that locale.

A request's locale, first that applies:
  1. `?lang=` on the public pages and the log-in page (a code such as ru, kk, uz or uz-Latn);
  2. the logged-in user's choice, kept in the account (users.language);
  3. the browser's Accept-Language, best match among LOCALES;
  4. English.
Public pages never look at the session (they are cached for everyone): they vary by
`?lang=` and Accept-Language only. TAXII, MISP and JSON answers never ask for a locale,
so they cost nothing here; catalogues load once per locale and process.

Incident content and STIX values (verdict values as stored, TLP names, technique ids)
are never translated; only the words around them are.
"""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.support import Translations
from babel.dates import get_date_format, get_datetime_format, get_time_format, parse_pattern
from flask import Flask, g, has_app_context, request
from flask_babel import Babel, format_decimal, format_number, get_locale, get_translations
from flask_babel.speaklater import LazyString
from markupsafe import Markup, escape

from .errors import N_  # noqa: F401  (the UI's modules mark messages with it)
from .logs import get_logger

log = get_logger(__name__)

# Catalogue names (node/translations/<locale>/LC_MESSAGES/messages.po), English first.
LOCALES = ("en", "ru", "kk", "uz_Latn", "az", "tr", "ky")
DEFAULT_LOCALE = "en"
# Each language named in itself, for the pickers (never translated).
ENDONYMS = {"en": "English", "ru": "Русский", "kk": "Қазақ тілі", "uz_Latn": "Oʻzbekcha", "az": "Azərbaycanca",
            "tr": "Türkçe", "ky": "Кыргызча"}
# What a browser or a link may say for each locale (BCP 47, lower case; "_" read as "-").
_TAGS = {"en": "en", "ru": "ru", "kk": "kk", "uz": "uz_Latn", "uz-latn": "uz_Latn", "az": "az", "az-latn": "az",
         "tr": "tr", "ky": "ky"}
# Endpoints where `?lang=` chooses the language (no account needed to read them).
LANG_PARAM_ENDPOINTS = ("web.login",)


def _translations():
    """The request's catalogue, looked up once per request (Flask-Babel finds it by locale);
    outside an app (a library call from the CLI or a test) the messages as written."""
    if not has_app_context():
        return catalogue(DEFAULT_LOCALE)
    try:
        return g.qalqan_translations
    except AttributeError:
        g.qalqan_translations = get_translations()
        return g.qalqan_translations


def gettext(text: str, **values) -> str:
    translated = _translations().ugettext(text)
    return translated % values if values else translated


def ngettext(singular: str, plural: str, num: int, **values) -> str:
    values.setdefault("num", num)
    return _translations().ungettext(singular, plural, num) % values


class _LazyText(LazyString):
    """A message translated when it is rendered (form labels are made at import), and
    escaped like any text when put into HTML."""

    def __html__(self) -> str:
        return str(escape(str(self)))


def _l(text: str) -> LazyString:
    return _LazyText(gettext, text)


def locale_of(code: str | None) -> str | None:
    """The catalogue for a language code (`uz`, `uz-Latn`, `uz_Latn`, `RU`), or None."""
    if not code or len(code) > 16:
        return None
    return _TAGS.get(code.strip().lower().replace("_", "-"))


def html_lang(locale: str | None) -> str:
    """The BCP 47 tag of a locale, for `<html lang>` (uz_Latn → uz-Latn)."""
    return (locale or DEFAULT_LOCALE).replace("_", "-")


def _from_accept_language() -> str | None:
    for tag, _quality in request.accept_languages:  # best first
        locale = locale_of(tag) or locale_of(tag.split("-")[0].split("_")[0])
        if locale and not (tag.lower().startswith("uz") and "cyrl" in tag.lower()):
            return locale
    return None


def _user_choice() -> str | None:
    """The logged-in analyst's language; only on UI pages behind the log-in (never on
    public pages, whose answers are cached for everyone, nor on the log-in page)."""
    if request.blueprint != "web" or request.endpoint in LANG_PARAM_ENDPOINTS + ("web.static",):
        return None
    from flask_login import current_user
    return getattr(current_user, "language", None) if current_user.is_authenticated else None


def select_locale() -> str:
    if request.blueprint == "public" or request.endpoint in LANG_PARAM_ENDPOINTS:
        chosen = locale_of(request.args.get("lang"))
        if chosen:
            return chosen
    return _user_choice() or _from_accept_language() or DEFAULT_LOCALE


def current_locale() -> str:
    locale = get_locale()
    return str(locale) if locale else DEFAULT_LOCALE


def ui_lang_arg() -> dict:
    """`{"lang": code}` when the request chose its language with `?lang=`, for links
    that keep it (public pages); else nothing."""
    code = request.args.get("lang", "")
    return {"lang": code} if locale_of(code) else {}


# Codes shown with a word in the reader's language (the code itself never changes).
ROLE_LABELS = {"analyst": N_("analyst"), "admin": N_("admin")}
OBSERVABLE_KINDS = {"url": N_("URL"), "domain-name": N_("domain"), "account": N_("account"), "media": N_("media")}


def _word(labels: dict, value):
    return gettext(labels[value]) if value in labels else value


def code(text, css_class: str | None = None) -> Markup:
    """`<code>` around a value put into a translated sentence (escaped)."""
    if css_class:
        return Markup('<code class="%s">%s</code>') % (css_class, text)
    return Markup("<code>%s</code>") % text


def strong(text) -> Markup:
    return Markup("<strong>%s</strong>") % text


def _warn_if_not_compiled(app: Flask) -> None:
    """A checkout installed without scripts/setup.sh has no .mo files: say so once."""
    for directory in app.extensions["babel"].translation_directories:
        missing = [locale for locale in LOCALES
                   if not (Path(directory) / locale / "LC_MESSAGES" / "messages.mo").is_file()]
        if missing:
            log.warning("UI catalogues not compiled for %s in %s: those pages will be English "
                        "(run scripts/i18n.sh compile)", ", ".join(missing), directory)


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, default_locale=DEFAULT_LOCALE, default_timezone="UTC")
    _warn_if_not_compiled(app)
    # Jinja's _(), gettext() and ngettext() through the request's catalogue, looked up once.
    app.jinja_env.install_gettext_callables(
        gettext=lambda text: _translations().ugettext(text),
        ngettext=lambda singular, plural, n: _translations().ungettext(singular, plural, n), newstyle=True)
    app.jinja_env.globals.update(
        LOCALES=LOCALES, ENDONYMS=ENDONYMS, html_lang=lambda: html_lang(current_locale()), ui_lang_arg=ui_lang_arg,
        role_label=lambda role: _word(ROLE_LABELS, role), observable_kind=lambda kind: _word(OBSERVABLE_KINDS, kind),
        code=code, strong=strong)
    app.jinja_env.filters.update(number=number, score=score)  # us_time, stix_time: node/web/filters.py


# -- dates and numbers ----------------------------------------------------------------------

@lru_cache(maxsize=32)
def _pattern(locale: str, time_width: str):
    """The locale's medium date with its time (`short`: to the minute, `medium`: seconds),
    joined as the locale joins them, then the zone (always UTC here)."""
    babel_locale = Locale.parse(locale)
    joined = str(get_datetime_format("medium", babel_locale))
    date = get_date_format("medium", babel_locale).pattern
    time = get_time_format(time_width, babel_locale).pattern
    return parse_pattern(joined.replace("{1}", date).replace("{0}", time) + " 'UTC'"), babel_locale


# Lists show the same moments page after page: each is formatted once per locale.
@lru_cache(maxsize=8192)
def _time_element(us: int, locale: str, time_width: str) -> Markup:
    """`<time datetime="ISO">` with the moment in the reader's locale as its text (the
    CLDR pattern Flask-Babel's format_datetime would use, applied directly: no per-call
    locale and timezone lookups)."""
    moment = datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)
    pattern, babel_locale = _pattern(locale, time_width)
    return Markup('<time datetime="%s">%s</time>') % (moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                                      pattern.apply(moment, babel_locale))


def us_time(us: int | None) -> Markup | str:
    """A time in microseconds since the epoch, to the second."""
    if not isinstance(us, int) or isinstance(us, bool):
        return "—"
    return _time_element(us, current_locale(), "medium")


@lru_cache(maxsize=8192)
def _stix_us(stamp: str) -> int | None:
    from .timefmt import taxii_to_us
    try:
        return taxii_to_us(stamp)
    except Exception:
        return None


def stix_time(stamp: str | None) -> Markup | str:
    """A STIX timestamp to the minute; the raw value if it does not parse."""
    if not stamp:
        return "—"
    if not isinstance(stamp, str):
        return stamp
    us = _stix_us(stamp) if len(stamp) <= 40 else _stix_us.__wrapped__(stamp)  # only stamp-sized keys cached
    return stamp if us is None else _time_element(us, current_locale(), "short")


def number(value: int | float) -> str:
    return format_number(value)


def score(value: float) -> str:
    """A similarity score with two decimals, the locale's decimal sign (0,82 in ru)."""
    return format_decimal(value, format="0.00")


# -- HTTP error pages -------------------------------------------------------------------------

HTTP_ERRORS = {
    400: (N_("Bad Request"), N_("The request was not understood: a form may have expired, or a value is wrong.")),
    403: (N_("Forbidden"), N_("Your account may not open this page.")),
    404: (N_("Not Found"), N_("There is no such page here. Check the address.")),
    405: (N_("Method Not Allowed"), N_("This page cannot be used that way.")),
    413: (N_("Request Entity Too Large"), N_("What was sent is larger than this node accepts.")),
}


def http_error_words(error) -> tuple[str, str]:
    """The name and the description of an HTTP error in the reader's language. A
    description the view gave (already in the reader's language) is kept."""
    name, description = HTTP_ERRORS.get(error.code, (error.name, None))
    own = error.description if error.description != type(error).description else None
    return gettext(name), own or (gettext(description) if description else error.description)


def error_text(error) -> str:
    """A library error in the reader's language where it carries its template (errors.py)."""
    if getattr(error, "template", None) is None:
        return error.message
    return f"{error.field}: {gettext(error.template, **error.params)}"


TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"


@lru_cache(maxsize=16)
def catalogue(locale: str) -> Translations:
    """A language's compiled catalogue outside a request (the alert worker's e-mails);
    English, the messages as written, when it is missing."""
    return Translations.load(str(TRANSLATIONS_DIR), [locale])
