"""Loading and validating a node's home: config.yaml and feeds/*.yaml.

Every setting is declared once in SETTINGS (dotted key, type check, default, help);
a wrong value is reported with the file, the key and what is wrong.
"""
from __future__ import annotations

import fcntl
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from . import strictyaml
from .errors import ConfigError
from .policy import FEED_PROFILES, TLP_ORDER, FeedRule

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
IDENTITY_RE = re.compile(r"^identity--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
URL_RE = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
MAX_YAML_BYTES = 256 * 1024  # config.yaml and each feeds/*.yaml; hundreds of peers fit


def _check(pred: Callable[[Any], bool], what: str):
    def check(value):
        if not pred(value):
            raise ValueError(what)
        return value
    return check


def _opt(check):
    return lambda v: None if v is None else check(v)


is_str = _check(lambda v: isinstance(v, str) and v != "", "must be a non-empty string")
is_name = _check(lambda v: isinstance(v, str) and bool(NAME_RE.match(v)), "must be a lower-case name (a-z, 0-9, _ or -)")
is_country = _check(lambda v: isinstance(v, str) and bool(COUNTRY_RE.match(v)), "must be an ISO 3166-1 alpha-2 code such as KZ")
is_identity = _check(lambda v: isinstance(v, str) and bool(IDENTITY_RE.match(v)), "must be an identity id (identity--<uuid>)")
is_url = _check(lambda v: isinstance(v, str) and bool(URL_RE.match(v)), "must be an http(s) URL")
is_port = _check(lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 65535, "must be a port number (0-65535)")
is_positive = _check(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0, "must be a positive number")
is_bool = _check(lambda v: isinstance(v, bool), "must be true or false")
is_tlp = _check(lambda v: v in TLP_ORDER, "must be one of " + ", ".join(TLP_ORDER))
SMTP_TLS = ("starttls", "ssl", "none")
is_smtp_tls = _check(lambda v: v in SMTP_TLS, "must be one of " + ", ".join(SMTP_TLS))
is_count = _check(lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "must be a whole number above 0")

REQUIRED = object()

# key, check, default (REQUIRED: must be present), help
SETTINGS: list[tuple[str, Callable, Any, str]] = [
    ("node.name", is_name, REQUIRED, "the node's short name, as peers call it"),
    ("node.country", is_country, REQUIRED, "ISO 3166-1 alpha-2 country code"),
    ("node.identity", is_identity, REQUIRED, "the node's STIX identity id"),
    ("node.url", is_url, REQUIRED, "public base URL, no path; discovery is at URL/taxii2/"),
    ("server.host", is_str, "127.0.0.1", "address to listen on"),
    ("server.port", is_port, 8001, "port to listen on"),
    ("server.threads", is_positive, 8, "WSGI worker threads"),
    ("server.header_timeout", is_positive, 10, "seconds for a TLS handshake, and for a request head to arrive"),
    ("server.max_connections", is_positive, 512, "open connections at most; more are closed at once"),
    ("server.max_connections_per_client", is_positive, 64, "open connections from one address at most"),
    ("server.tls_cert", _opt(is_str), None, "PEM certificate chain; enables HTTPS"),
    ("server.tls_key", _opt(is_str), None, "PEM private key of the certificate"),
    ("server.tls_client_ca", _opt(is_str), None,
     "CA bundle (this node's and partners' CAs); when set, clients must present a certificate"),
    ("server.allow_plain_http", is_bool, False, "serve plain HTTP on a non-loopback address"),
    ("server.max_content_length", is_positive, 10 * 1024 * 1024, "largest accepted request body in bytes"),
    ("taxii.max_page_bytes", is_positive, 8 * 1024 * 1024,
     "largest TAXII page of objects in bytes; a fuller page ends early with more: true"),
    ("taxii.max_object_bytes", is_positive, 1024 * 1024,
     "largest object accepted, in canonical JSON bytes; a larger one is rejected at ingest"),
    ("database", is_str, "data/qalqan.db", "SQLite database path, relative to the home"),
    ("default_tlp", is_tlp, "amber", "TLP of an incident whose record names none"),
    ("sync.interval", is_positive, 30, "seconds between pulls in `serve`"),
    ("sync.timeout", is_positive, 10, "seconds a peer request may take, its whole answer included"),
    ("sync.push_relayed", is_bool, True,
     "push partners' objects onward to the peers that may read them, not only this node's own"),
    ("sync.max_response_bytes", is_positive, 64 * 1024 * 1024,
     "largest answer accepted from a peer in bytes (after decompression); a larger one fails the sync"),
    ("disarm", _opt(is_str), None, "path of a DISARM STIX bundle (optional)"),
    ("public.enabled", is_bool, False,
     "publish TLP:CLEAR debunks without log-in at /public/ (pages, Atom feed, ClaimReview markup)"),
    ("alerts.poll", is_positive, 1, "seconds between looks at the alert outbox in `serve`"),
    ("alerts.timeout", is_positive, 10,
     "seconds one delivery (an e-mail, a webhook call, an apprise message) may take"),
    ("alerts.retry_after", is_positive, 30, "seconds before a failed delivery is tried again, doubled after each failure"),
    ("alerts.max_retry_after", is_positive, 3600, "the longest wait between two tries of a delivery, in seconds"),
    ("alerts.max_attempts", is_count, 8, "tries of one delivery before it is given up and marked failed"),
    ("alerts.workers", is_count, 4, "deliveries sent at once; one endpoint never takes more than one of them"),
    ("alerts.smtp.host", _opt(is_str), None, "SMTP server for e-mail alerts; null: no e-mail is sent"),
    ("alerts.smtp.port", is_port, 587, "SMTP port"),
    ("alerts.smtp.tls", is_smtp_tls, "starttls",
     "starttls, ssl (TLS from the first byte, usually port 465) or none (a relay on this machine)"),
    ("alerts.smtp.from", _opt(is_str), None, "the From address of alert e-mails; null: qalqan@ the host of node.url"),
    ("alerts.smtp.user", _opt(is_str), None, "SMTP log-in name; null: no log-in"),
    ("alerts.smtp.password_env", _opt(is_str), None, "environment variable that holds the SMTP password"),
    ("alerts.smtp.password_file", _opt(is_str), None,
     "file that holds the SMTP password (mode 0600), relative to the home"),
]


@dataclass
class Peer:
    name: str
    url: str
    token: str | None = None
    token_env: str | None = None
    pull: list[str] = field(default_factory=list)
    push: list[str] = field(default_factory=list)
    signed: bool = True
    identity: str | None = None  # the partner node's identity id, from its card
    # TLS towards the partner, paths relative to the home (None: the system's CAs, no client certificate)
    ca: str | None = None  # CA bundle, or the partner's self-signed certificate, to trust
    client_cert: str | None = None  # this node's client certificate, for the partner's tls_client_ca
    client_key: str | None = None
    home: Path | None = field(default=None, repr=False, compare=False)

    def tls_file(self, key: str) -> str | None:
        """The absolute path of the `ca`, `client_cert` or `client_key` file, or None."""
        value = getattr(self, key)
        return None if not value else str((self.home or Path(".")) / value)

    def secret(self) -> str | None:
        if self.token_env:
            return os.environ.get(self.token_env)
        return self.token


@dataclass
class Feed:
    name: str
    id: str
    title: str
    description: str
    max_tlp: str
    readers: list[str]
    writers: list[str]
    profile: str | None = None  # policy.FEED_PROFILES: extra objects for one kind of subscriber

    @property
    def is_public(self) -> bool:
        return "public" in self.readers

    def rule(self) -> FeedRule:
        return FeedRule(self.name, self.max_tlp, frozenset(self.writers), frozenset(self.readers), self.profile)

    def may_read(self, peer: str | None) -> bool:
        return self.is_public or (peer is not None and peer in self.readers)

    def may_write(self, peer: str | None) -> bool:
        return peer is not None and peer in self.writers


@dataclass
class Config:
    home: Path
    values: dict[str, Any]
    peers: dict[str, Peer]
    feeds: dict[str, Feed]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def name(self) -> str:
        return self.values["node.name"]

    @property
    def identity(self) -> str:
        return self.values["node.identity"]

    @property
    def database_path(self) -> Path:
        return self.home / self.values["database"]

    @property
    def disarm_path(self) -> Path | None:
        path = self.values["disarm"]
        return None if path is None else (self.home / path)

    def feed(self, name_or_id: str) -> Feed:
        for feed in self.feeds.values():
            if name_or_id in (feed.name, feed.id):
                return feed
        raise ConfigError(f"no feed named {name_or_id!r} (known: {', '.join(sorted(self.feeds)) or 'none'})")

    def feed_rules(self) -> list[FeedRule]:
        return [f.rule() for f in self.feeds.values()]


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and dotted not in ("peers",):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def read_yaml(path: Path) -> Any:
    """config.yaml or a feed file, strictly (no aliases, no key twice) and bounded in size:
    parsing YAML costs seconds per MiB, and no real setting needs that much."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_YAML_BYTES + 1)  # bounded: a huge or endless file is never read whole
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (is this a Qalqan home? run `qalqan init`)") from None
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_YAML_BYTES // 1024} KiB, too large for a settings file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8") from None
    try:
        return strictyaml.load(text)
    except strictyaml.Refused as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None


def load(home: Path) -> Config:
    home = Path(home)
    path = home / "config.yaml"
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    flat = _flatten({k: v for k, v in data.items()})
    known = {key for key, *_ in SETTINGS} | {"peers"}
    for key in flat:
        if key not in known:
            raise ConfigError(f"{path}: key '{key}': unknown setting")
    values = {}
    for key, check, default, _help in SETTINGS:
        if key in flat:
            try:
                values[key] = check(flat[key])
            except ValueError as exc:
                raise ConfigError(f"{path}: key '{key}': {exc}") from None
        elif default is REQUIRED:
            raise ConfigError(f"{path}: key '{key}' is missing")
        else:
            values[key] = default
    peers = _load_peers(path, flat.get("peers") or {})
    feeds = load_feeds(home / "feeds")
    for peer in peers.values():
        for key in ("pull", "push"):
            for ref in getattr(peer, key):
                if not _looks_like_feed_ref(ref):
                    raise ConfigError(f"{path}: key 'peers.{peer.name}.{key}': {ref!r} is not a collection "
                                      "id, title or alias")
    return Config(home=home, values=values, peers=peers, feeds=feeds)


def _looks_like_feed_ref(ref: Any) -> bool:
    """A partner's collection id, alias (its feed name) or title: a title may be any line of text."""
    return isinstance(ref, str) and ref.strip() != "" and ref.isprintable()


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


PEER_KEYS = {"url": is_url, "token": _opt(is_str), "token_env": _opt(is_str), "signed": is_bool,
             "identity": _opt(is_identity), "ca": _opt(is_str), "client_cert": _opt(is_str),
             "client_key": _opt(is_str)}
# PEM files a peer entry names, and what each must hold
PEER_PEM_FILES = {"ca": "certificate", "client_cert": "certificate", "client_key": "private key"}


def _load_peers(path: Path, raw: Any) -> dict[str, Peer]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: key 'peers': must be a mapping of peer name to settings")
    peers = {}
    for name, settings in raw.items():
        where = f"{path}: key 'peers.{name}"  # each message closes the quote
        try:
            is_name(name)
        except ValueError as exc:
            raise ConfigError(f"{where}': the peer name {exc}") from None
        if not isinstance(settings, dict):
            raise ConfigError(f"{where}': must be a mapping")
        kwargs: dict[str, Any] = {"name": name}
        for key, value in settings.items():
            if key in ("pull", "push"):
                if not isinstance(value, list):
                    raise ConfigError(f"{where}.{key}': must be a list of feed names or ids")
                kwargs[key] = value
            elif key in PEER_KEYS:
                try:
                    kwargs[key] = PEER_KEYS[key](value)
                except ValueError as exc:
                    raise ConfigError(f"{where}.{key}': {exc}") from None
            else:
                raise ConfigError(f"{where}.{key}': unknown setting")
        if "url" not in kwargs:
            raise ConfigError(f"{where}.url' is missing")
        if bool(kwargs.get("client_cert")) != bool(kwargs.get("client_key")):
            raise ConfigError(f"{where}': client_cert and client_key must be set together")
        for key, what in PEER_PEM_FILES.items():
            if kwargs.get(key):
                check_pem_file(path.parent / kwargs[key], what, f"{where}.{key}'")
        peers[name] = Peer(**kwargs, home=path.parent)
    return peers


def check_pem_file(file: Path, what: str, where: str) -> None:
    """A TLS file exists and holds the PEM it should ('certificate' or 'private key')."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: {file}: {exc.strerror or 'cannot be read'}") from None
    try:
        if what == "certificate":
            x509.load_pem_x509_certificates(data)
        else:
            serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{where}: {file} does not hold a PEM {what}"
                          + (" (unencrypted)" if what == "private key" else "")) from None


FEED_KEYS = ("id", "title", "description", "max_tlp", "readers", "writers", "profile")


def load_feeds(folder: Path) -> dict[str, Feed]:
    feeds: dict[str, Feed] = {}
    ids: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        feed = load_feed(path)
        if feed.id in ids:
            raise ConfigError(f"{path}: key 'id': the same id as feeds/{ids[feed.id]}.yaml")
        ids[feed.id] = feed.name
        feeds[feed.name] = feed
    return feeds


def load_feed(path: Path) -> Feed:
    data = read_yaml(path)
    name = path.stem
    if not NAME_RE.match(name):
        raise ConfigError(f"{path}: the file name must be a lower-case feed name")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with {', '.join(FEED_KEYS)}")
    for key in data:
        if key not in FEED_KEYS:
            raise ConfigError(f"{path}: key '{key}': unknown setting")
    for key in ("id", "title", "max_tlp"):
        if key not in data:
            raise ConfigError(f"{path}: key '{key}' is missing")
    if not isinstance(data["id"], str) or not _is_uuid(data["id"]) or uuid.UUID(data["id"]).version != 4:
        raise ConfigError(f"{path}: key 'id': must be a UUIDv4")
    if data["max_tlp"] not in TLP_ORDER:
        raise ConfigError(f"{path}: key 'max_tlp': must be one of {', '.join(TLP_ORDER)}")
    lists = {}
    for key in ("readers", "writers"):
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and NAME_RE.match(v) for v in value):
            raise ConfigError(f"{path}: key '{key}': must be a list of peer names")
        lists[key] = value
    if "public" in lists["writers"]:
        raise ConfigError(f"{path}: key 'writers': 'public' cannot write")
    profile = data.get("profile")
    if profile is not None and profile not in FEED_PROFILES:
        raise ConfigError(f"{path}: key 'profile': must be one of {', '.join(FEED_PROFILES)} (or absent)")
    return Feed(name=name, id=data["id"], title=str(data["title"]), description=str(data.get("description") or ""),
                max_tlp=data["max_tlp"], profile=profile, **lists)


def default_feeds() -> dict[str, dict]:
    return {
        "bilateral": {"id": str(uuid.uuid4()), "title": "Bilateral", "description":
                      "Incidents shared with the partner ministry (up to TLP:AMBER).",
                      "max_tlp": "amber", "readers": [], "writers": []},
        "regional": {"id": str(uuid.uuid4()), "title": "Regional (Organization of Turkic States)", "description":
                     "Incidents shared with OTS member nodes (up to TLP:GREEN); relays green partner incidents.",
                     "max_tlp": "green", "readers": [], "writers": []},
        "public": {"id": str(uuid.uuid4()), "title": "Public", "description":
                   "Debunked incidents anyone may read (TLP:CLEAR).",
                   "max_tlp": "clear", "readers": ["public"], "writers": []},
    }


def write_yaml(path: Path, data: Any) -> None:
    """Write atomically, readable by the owner only (config.yaml may hold peer tokens)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(strictyaml.dump(data))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def update_config(home: Path, change: Callable[[dict], None]) -> None:
    """Apply `change` to the raw config mapping and write it back; a change that does
    not validate is undone. A lock file serialises writers from other processes."""
    _update_yaml(Path(home), Path(home) / "config.yaml", change)


def update_feed(home: Path, name: str, change: Callable[[dict], None], create: bool = False) -> None:
    """Apply `change` to the mapping of feeds/NAME.yaml (an empty one when `create`, and
    then the file must not exist yet) and write it back, under the same lock and with the
    same undo as update_config: a feed file that would not load is never left behind."""
    path = Path(home) / "feeds" / f"{name}.yaml"
    if not NAME_RE.match(name):
        raise ConfigError(f"{path}: the file name must be a lower-case feed name")
    _update_yaml(Path(home), path, change, create=create)


def _update_yaml(home: Path, path: Path, change: Callable[[dict], None], create: bool = False) -> None:
    with open(home / "config.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if create and path.exists():
            raise ConfigError(f"{path}: exists already")
        before = None if create else path.read_bytes()
        data = {} if create else read_yaml(path)
        change(data)
        write_yaml(path, data)
        try:
            load(home)
        except ConfigError:
            if before is None:
                path.unlink()
            else:
                tmp = path.with_suffix(".yaml.tmp")
                tmp.write_bytes(before)
                os.chmod(tmp, 0o600)
                os.replace(tmp, path)
            raise
