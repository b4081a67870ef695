"""Flask-WTF forms. Each carries a CSRF token; the incident form turns what an analyst
typed into an incident record (data-model.md) and puts record errors next to fields.

Free text (title, summary, claim, threat actor, logins) is passed on exactly as typed;
codes (platforms, countries) are case-normalised, list inputs split by line or comma.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (BooleanField, HiddenField, PasswordField, SelectField, SelectMultipleField, StringField,
                     TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from ..disarm import Disarm
from ..errors import InputError, QalqanError
from ..i18n import LOCALES, _l, gettext
from ..incident import FIELDS, VERDICT_LABELS, VERDICTS
from ..opinions import OPINION_LABELS, OPINIONS
from ..policy import NEVER_SHARED, TLP_ORDER
from ..responses import KINDS

# Codes, times and URLs: surrounding spaces are not content. Everything else is kept as typed.
CODE_FIELDS = ("language", "first_seen", "last_seen", "confidence", "fact_check_url")


class LoginForm(FlaskForm):
    name = StringField(_l("User name"), render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField(_l("Password"), render_kw={"autocomplete": "current-password"})


class LanguageForm(FlaskForm):
    """The header's language picker: a UI language, or "" for the browser's choice."""
    language = SelectField(_l("Language"), choices=[SelectChoice("", ""), *(SelectChoice(code, code) for code in LOCALES)])
    next = HiddenField()


class PostForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class QuarantineDeleteForm(FlaskForm):
    id = StringField()
    version = StringField()
    digest = StringField()


def _split_lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _split_codes(text: str | None) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", text or "") if part]


def _keep_typed(text: str | None) -> str | None:
    # Browsers send a textarea's line breaks as CRLF; the analyst typed plain newlines.
    return None if text is None else text.replace("\r\n", "\n")


def show_error(form: FlaskForm, error: InputError) -> None:
    """Put a record error next to the field it names (validators start messages with
    it), in the reader's language when the error carries its template."""
    field_name, _, rest = error.message.partition(": ")
    if error.template is not None:
        field_name, rest = error.field, gettext(error.template, **error.params)
    if field_name != "csrf_token" and field_name in form:
        form[field_name].errors = [*form[field_name].errors, rest or error.message]
    else:
        form.form_errors.append(error.message)


class RecordErrors:
    """A form whose library call names the field of its error (node/responses.py)."""

    def attempt(self, action):
        """Run `action` (a library call that validates the record); its error goes next to
        its field, or above the form. Returns (True, result) or (False, None)."""
        try:
            return True, action()
        except InputError as exc:
            show_error(self, exc)
        except QalqanError as exc:
            self.form_errors.append(exc.message)
        return False, None


def _accounts_from_lines(field) -> list[dict] | None:
    """`platform login` per line, or None after putting the error on the field."""
    accounts = []
    for line in _split_lines(field.data):
        parts = line.split(None, 1)
        if len(parts) != 2:
            field.errors = [gettext("%(line)r: write the platform, a space, then the login "
                                    "(e.g. telegram @channel_name)", line=line)]
            return None
        accounts.append({"platform": parts[0].lower(), "login": parts[1]})
    return accounts


class IncidentForm(FlaskForm):
    title = StringField(_l("Title"))
    summary = TextAreaField(_l("Summary"), render_kw={"rows": 5})
    claim = TextAreaField(_l("Claim"), render_kw={"rows": 3})
    language = StringField(_l("Language"), render_kw={"list": "language-codes", "size": 4, "autocomplete": "off"})
    first_seen = StringField(_l("First seen"), render_kw={"placeholder": _l("2026-11-20 or 2026-11-20T08:00:00Z")})
    last_seen = StringField(_l("Last seen"), render_kw={"placeholder": _l("optional")})
    platforms = StringField(_l("Platforms"), render_kw={"placeholder": "telegram, tiktok"})
    target_countries = StringField(_l("Target countries"), render_kw={"placeholder": "KZ, UZ"})
    disarm = SelectMultipleField(_l("DISARM"), validate_choice=False, render_kw={"size": 12})
    urls = TextAreaField(_l("URLs"), render_kw={"rows": 3, "placeholder": _l("one per line")})
    accounts = TextAreaField(_l("Accounts"), render_kw={"rows": 3, "placeholder": "telegram @channel_name"})
    media_sha256 = TextAreaField(_l("Media SHA-256"), render_kw={"rows": 2, "placeholder": _l("one hash per line")})
    verdict = SelectField(_l("Verdict"), choices=[])
    confidence = StringField(_l("Confidence"), render_kw={"type": "number", "min": 0, "max": 100, "step": 1})
    fact_check_url = StringField(_l("Fact-check URL"), render_kw={"placeholder": "https://"})
    threat_actor = StringField(_l("Threat actor"))
    tlp = SelectField(_l("TLP"), choices=[SelectChoice(t, f"TLP:{t.upper()}") for t in TLP_ORDER])
    share = SelectMultipleField(_l("Share"), widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    # Tells "every box unticked" (keep it on this node) from "no boxes shown" (the default).
    share_offered = HiddenField()

    def __init__(self, disarm: Disarm, feeds: dict, default_tlp: str, **kwargs):
        super().__init__(**kwargs)
        self.disarm_release = (disarm.release.get("modified") or "")[:10]  # for DISARM's attribution line
        self.disarm.choices = [SelectChoice(t.id, f"{t.id} {t.name}", optgroup=tactic)
                               for tactic, techniques in disarm.by_tactic() for t in techniques]
        self.share.choices = [SelectChoice(name, feed.title) for name, feed in feeds.items()]
        # A verdict in the reader's words, with the value as stored beside it.
        self.verdict.choices = [SelectChoice("", gettext("— choose —")),
                                *(SelectChoice(v, f"{gettext(VERDICT_LABELS[v])} ({v})") for v in VERDICTS)]
        if not self.is_submitted():
            self.tlp.data = default_tlp
            self.share.data = list(feeds)

    def record(self) -> dict | None:
        """The incident record, or None after putting parse errors on their fields."""
        record: dict = {}
        for name in ("title", "summary", "claim", "language", "first_seen", "last_seen", "verdict",
                     "confidence", "fact_check_url", "threat_actor", "tlp"):
            value = self[name].data
            if name in ("summary", "claim"):
                value = _keep_typed(value)
            elif name in CODE_FIELDS and isinstance(value, str):
                value = value.strip().lower() if name == "language" else value.strip()
            if value not in (None, ""):
                record[name] = value
        for name in ("title", "summary", "language", "first_seen", "verdict"):
            record.setdefault(name, "")  # let the record validator name the missing field
        record["platforms"] = [p.lower() for p in _split_codes(self.platforms.data)]
        record["target_countries"] = [c.upper() for c in _split_codes(self.target_countries.data)]
        record["disarm"] = [t for value in (self.disarm.data or []) for t in _split_codes(value)]
        record["urls"] = _split_lines(self.urls.data)
        record["media_sha256"] = _split_lines(self.media_sha256.data)
        if self.share.data or self.share_offered.data:
            record["share"] = list(self.share.data or [])
        # else: a POST that never showed the feed boxes gets the record default, like
        # `incident add` without `share`: every feed its TLP allows.
        accounts = self._accounts()
        if accounts is None:
            return None
        record["accounts"] = accounts
        return {k: v for k, v in record.items() if v != [] or k == "share"}

    def _accounts(self) -> list[dict] | None:
        return _accounts_from_lines(self.accounts)

    def fill(self, record: dict) -> None:
        """Show a held incident's record (node/corrections.py record_of) to correct it."""
        for name, value in record.items():
            if name in ("accounts",):
                value = "\n".join(f"{a['platform']} {a['login']}" for a in value)
            elif name in ("urls", "media_sha256"):
                value = "\n".join(value)
            elif name in ("platforms", "target_countries"):
                value = ", ".join(value)
            elif name == "share" and value is None:
                continue
            elif name not in ("disarm", "share"):
                value = "" if value is None else str(value)
            if name in self:
                self[name].data = value
        if "share" not in record:
            self.share.data = [choice.value for choice in self.share.choices]

    def show_error(self, error: InputError) -> None:
        show_error(self, error)


class CorrectionForm(IncidentForm):
    lower_tlp = BooleanField(_l("Yes: lower the TLP and share the incident more widely"))


class SightingForm(FlaskForm):
    first_seen = StringField(_l("First seen"), render_kw={"placeholder": _l("2026-11-29 or 2026-11-29 07:45 (UTC)")})
    last_seen = StringField(_l("Last seen"), render_kw={"placeholder": _l("optional")})
    count = StringField(_l("How often"), default="1", render_kw={"type": "number", "min": 1, "step": 1})
    country = StringField(_l("Country"), render_kw={"size": 3, "placeholder": "KZ"})
    platform = StringField(_l("Platform"), render_kw={"placeholder": "telegram"})
    urls = TextAreaField(_l("URLs"), render_kw={"rows": 3, "placeholder": _l("one per line")})
    accounts = TextAreaField(_l("Accounts"), render_kw={"rows": 2, "placeholder": "telegram @channel_name"})
    note = TextAreaField(_l("Note"), render_kw={"rows": 3})

    def record(self) -> dict | None:
        """The sighting record, or None after putting a parse error on its field."""
        record = {name: self[name].data.strip() for name in ("first_seen", "last_seen", "count", "country",
                                                             "platform", "note") if (self[name].data or "").strip()}
        record["urls"] = _split_lines(self.urls.data)
        accounts = _accounts_from_lines(self.accounts)
        if accounts is None:
            return None
        record["accounts"] = accounts
        return record

    def show_error(self, error: InputError) -> None:
        show_error(self, error)


class OpinionForm(FlaskForm):
    opinion = SelectField(_l("Your node's opinion of the verdict"), choices=[
        SelectChoice(value, _l(OPINION_LABELS[value])) for value in reversed(OPINIONS)])
    explanation = TextAreaField(_l("Explanation"), render_kw={"rows": 3})


class ResponseForm(RecordErrors, FlaskForm):
    """A countermeasure taken against an incident (node/responses.py validates it)."""

    kind = SelectField(_l("Kind"), choices=[SelectChoice("", _l("— choose —")),
                                            *(SelectChoice(code, _l(label)) for code, label in KINDS.items())])
    at = StringField(_l("When"), render_kw={"placeholder": _l("2026-11-21 09:30 (UTC)")})
    description = TextAreaField(_l("Description"), render_kw={"rows": 4})
    url = StringField(_l("URL"), render_kw={"placeholder": "https://"})
    countermeasures = SelectMultipleField(_l("DISARM countermeasures"), validate_choice=False,
                                          render_kw={"size": 10})

    def __init__(self, disarm: Disarm, **kwargs):
        super().__init__(**kwargs)
        self.countermeasures.choices = [SelectChoice(c.id, f"{c.id} {c.name}")
                                        for c in sorted(disarm.countermeasures.values(), key=lambda c: c.id)]
        if not self.is_submitted():
            self.at.data = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")

    def record(self) -> dict:
        record = {"kind": self.kind.data or "", "at": (self.at.data or "").strip(),
                  "description": _keep_typed(self.description.data) or "",
                  "url": (self.url.data or "").strip(), "countermeasures": list(self.countermeasures.data or [])}
        return {k: v for k, v in record.items() if v not in ("", []) or k in ("kind", "at", "description")}


class WithdrawForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), render_kw={"rows": 3, "maxlength": 2000})


class FeedGrantForm(FlaskForm):
    """Admin access page: let a peer read and/or write a feed."""
    feed = HiddenField()
    peer = StringField(_l("Peer"), render_kw={"placeholder": _l("peer name"), "size": 12, "autocomplete": "off"})
    rights = SelectField(_l("Rights"), choices=[SelectChoice("read", _l("read")), SelectChoice("write", _l("write")),
                                                   SelectChoice("read+write", _l("read and write"))])


class FeedRevokeForm(FlaskForm):
    feed = HiddenField()
    peer = HiddenField()


class NamedForm(FlaskForm):
    """A button that acts on one named thing (a peer's tokens, an account, a card, a peer)."""
    name = HiddenField()


class FeedAddForm(FlaskForm):
    """Admin access page: a new feed nobody may read yet (`qalqan feed add`)."""
    name = StringField(_l("Name"), render_kw={"placeholder": _l("e.g. ots"), "size": 12, "autocomplete": "off"})
    max_tlp = SelectField(_l("Up to"), default="green", validate_choice=False,  # access.add_feed explains a refusal
                          choices=[SelectChoice(t, f"TLP:{t.upper()}") for t in TLP_ORDER if t not in NEVER_SHARED])
    title = StringField(_l("Title"), render_kw={"placeholder": _l("default: the name"), "size": 20})


class TokenCreateForm(FlaskForm):
    """Admin access page: a token for a peer (`qalqan token create`)."""
    name = StringField(_l("Peer"), render_kw={"placeholder": _l("peer name"), "size": 12, "autocomplete": "off"})
    keep_old = BooleanField(_l("Keep its older tokens working"))


class PasswordSetForm(FlaskForm):
    """Admin access page: a new password for an account (`qalqan user passwd`)."""
    name = HiddenField()
    password = PasswordField(_l("New password"), render_kw={"autocomplete": "new-password", "size": 14})


def _checkboxes(label) -> SelectMultipleField:
    return SelectMultipleField(label, choices=[], validate_choice=False, widget=ListWidget(prefix_label=False),
                               option_widget=CheckboxInput())


class InviteForm(FlaskForm):
    """Admin pairing page: an invitation for a partner node (`qalqan invite`)."""
    peer = StringField(_l("Partner node name"), render_kw={"placeholder": _l("e.g. uz"), "size": 12, "autocomplete": "off"})
    read = _checkboxes(_l("It may read"))
    write = _checkboxes(_l("It may write"))
    days = StringField(_l("Valid for (days)"), default="7", render_kw={"size": 3, "inputmode": "numeric"})


class JoinUploadForm(FlaskForm):
    """Admin pairing page: the invitation file a partner sent (`qalqan join`)."""
    file = FileField(_l("Invitation file"))


class JoinConfirmForm(FlaskForm):
    """Accept the invitation shown: its bytes travel back in a hidden field."""
    invitation = HiddenField()


class WatchForm(FlaskForm):
    """A watch (node/alerts/watches.py): the list's filters, an observable, where alerts go."""
    name = StringField(_l("Name"), render_kw={"placeholder": _l("e.g. uz-fabricated"), "autocomplete": "off"})
    target_country = StringField(_l("Target country"), render_kw={"placeholder": _l("e.g. UZ"), "size": 4})
    technique = StringField(_l("DISARM technique"), render_kw={"placeholder": _l("e.g. T0023"),
                                                               "list": "watch-techniques"})
    verdict = SelectField(_l("Verdict"), validate_choice=False,
                          choices=[SelectChoice("", _l("any"))] + [SelectChoice(v, _l(VERDICT_LABELS[v])) for v in VERDICTS])
    platform = StringField(_l("Platform"), render_kw={"placeholder": _l("e.g. telegram")})
    text = StringField(_l("Text"), render_kw={"placeholder": _l("words in title, summary, claim, URLs, accounts")})
    observable = StringField(_l("Account or URL"), render_kw={"placeholder": "@channel / https://…"})
    emails = TextAreaField(_l("E-mail addresses"), render_kw={"rows": 2, "placeholder": _l("one per line")})
    webhooks = TextAreaField(_l("Webhook URLs"), render_kw={"rows": 2, "placeholder": _l("one per line")})
    apprise = TextAreaField(_l("Apprise URLs"), render_kw={"rows": 2, "placeholder": "tgram://BOT_TOKEN/CHAT_ID"})

    # An error's leading word (node/alerts/watches.py) → the field it is about.
    ERROR_FIELDS = {"NAME": "name", "email": "emails", "webhook": "webhooks", "apprise": "apprise"}

    def lines(self, field: str) -> list[str]:
        return _split_lines(self[field].data)

    def show_error(self, error: InputError) -> None:
        name, _, rest = error.message.partition(": ")
        field = self.ERROR_FIELDS.get(name, name)
        if error.template is not None:
            rest = gettext(error.template, **error.params)
        if field in self and field != "csrf_token":
            self[field].errors = [*self[field].errors, rest or error.message]
        else:
            self.form_errors.append(error.message)
