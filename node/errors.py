"""The one error hierarchy of Qalqan.

    QalqanError            any failure a user or peer should read
    ├── ConfigError        config.yaml or a feed file is wrong (names file and key)
    ├── InputError         a record, file or request body is malformed (names the field)
    ├── SignatureError     an object does not verify
    ├── UntrustedSigner    the signer or key is not (yet) pinned: quarantine, not reject
    ├── PeerError          a partner node failed or answered nonsense
    └── StoreBusy          another writer held the database too long

Each carries a one-sentence message and the HTTP status a web door should answer with.
The CLI and each blueprint turn them into output in one place each.

An error the analyst UI shows in the reader's language is made with `about`: an English
template marked with N_ (so it is extracted into the catalogues) and its values; the
message is that template filled in, in English, as the CLI and logs print it.
"""
from __future__ import annotations


def N_(text: str) -> str:
    """Marks a message for translation where it is defined (node/translations); the UI
    translates it where it shows it."""
    return text


class QalqanError(Exception):
    http_status = 400
    field: str | None = None
    template: str | None = None
    params: dict = {}

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    @classmethod
    def about(cls, field: str, template: str, **params):
        """`field: reason`, with the reason a %-template (marked N_) and its values."""
        error = cls(f"{field}: {template % params}")
        error.field, error.template, error.params = field, template, params
        return error


class ConfigError(QalqanError):
    http_status = 500


class InputError(QalqanError):
    http_status = 400


class SignatureError(QalqanError):
    http_status = 422


class UntrustedSigner(SignatureError):
    """The signature cannot be checked yet: unknown signer or key."""


class RevokedKey(SignatureError):
    """Signed by a key revoked before the object was checked."""


class PeerError(QalqanError):
    http_status = 502


class StoreBusy(QalqanError):
    http_status = 503
