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
"""


class QalqanError(Exception):
    http_status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


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
