"""A node's home folder and the library API the CLI, the web UI and sync call.

`init_home` makes a home; `Node(home)` opens one: its config, store, trust store,
signing key, DISARM index and the one ingest path.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import uuid
from urllib.parse import urlsplit
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Iterator

import stix2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import config as config_mod
from . import incident as incident_mod
from .disarm import Disarm
from .errors import ConfigError, InputError, QalqanError, SignatureError
from .incident_index import index_stored_batch
from .ingest import IMPORT, OWN, PEER, Door, Ingest, Summary, check_shape
from .object_ids import ScopedIds
from .policy import NEVER_SHARED, TLP_ORDER, may_carry
from .sco import SCO_TYPES, deterministic_id
from .signing import (SigningKey, b64u_encode, canonical, key_id_of, load_private_key, private_key_pem,
                      public_key_pem, raw_public_bytes, sign, signature_of)
from .store import Store
from .timefmt import now_us, version_key
from .trust import TrustStore, keys_of_card, verify_self_signed
from .wellknown import NODE_KEYS_EXT, well_known_canonical, well_known_objects
from . import wire

def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o600)


def make_card(identity: str, name: str, country: str, key: Ed25519PrivateKey, created: str | None = None,
              extra_keys: list[dict] = ()) -> dict:
    now = incident_mod.stix_now()
    pub = raw_public_bytes(key.public_key())
    keys = [*extra_keys, {"key_id": key_id_of(pub), "algorithm": "Ed25519", "public_key": b64u_encode(pub),
                          "valid_from": now}]
    card = json.loads(stix2.Identity(
        id=identity, name=name, identity_class="organization", created_by_ref=identity,
        created=created or now, modified=now,
        extensions={NODE_KEYS_EXT: {"extension_type": "property-extension", "keys": keys, "country": country}},
    ).serialize())
    return sign(card, SigningKey(key, identity))


def init_home(home: Path, name: str, country: str, url: str | None = None) -> tuple[str, str]:
    """Make a node's home: config, key pair, card, default feeds, database."""
    home = Path(home)
    key_path = home / "keys" / "node.key"
    if key_path.exists():
        raise InputError(f"{key_path} exists: refusing to overwrite a node key")
    if (home / "config.yaml").exists():
        raise InputError(f"{home / 'config.yaml'} exists: this folder is already a node's home")
    for option, check, value in (("--name", config_mod.is_name, name), ("--country", config_mod.is_country, country),
                                 ("--url", config_mod.is_url, url)):
        try:
            if value is not None:
                check(value)
        except ValueError as exc:
            raise InputError(f"{option}: {value!r} {exc}") from None
    if url is not None and url.rstrip("/").count("/") > 2:
        raise InputError("--url: give the base URL with no path, e.g. http://127.0.0.1:8001")
    identity = f"identity--{uuid.uuid4()}"
    (home / "keys").mkdir(parents=True, exist_ok=True)
    os.chmod(home / "keys", 0o700)
    (home / "feeds").mkdir(exist_ok=True)
    (home / "data").mkdir(mode=0o700, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    _write_private(key_path, private_key_pem(key))
    (home / "keys" / "node.pub").write_bytes(public_key_pem(key.public_key()))
    url = (url or "http://127.0.0.1:8001").rstrip("/")
    parts = urlsplit(url)
    config = {
        "node": {"name": name, "country": country, "identity": identity, "url": url},
        "server": {"host": "127.0.0.1", "port": parts.port or (443 if parts.scheme == "https" else 80)},
        "database": "data/qalqan.db",
        "default_tlp": "amber",
        "sync": {"interval": 30, "timeout": 10},
        "disarm": None,
        "peers": {},
    }
    config_mod.write_yaml(home / "config.yaml", config)
    for feed_name, feed in config_mod.default_feeds().items():
        config_mod.write_yaml(home / "feeds" / f"{feed_name}.yaml", feed)
    node = Node(home)
    card = make_card(identity, name, country, key)
    node.trust.pin(card)
    node.ingest.run([card], Door(OWN))
    return identity, key_id_of(key.public_key())


@dataclass
class IncidentResult:
    report_id: str
    incident_id: str
    summary: Summary


class Node:
    def __init__(self, home: Path | str):
        self.home = Path(home)
        self.config = config_mod.load(self.home)
        keys = self.home / "keys"
        if not (keys / "node.key").exists() and not (keys / "node.key.next").exists():
            # Before the database is touched: a folder with a config.yaml but no key (the
            # repository's reference config.yaml, a half-copied home) is not a node.
            raise ConfigError(f"{keys / 'node.key'}: no node key, so {self.home} is not a node's home "
                              "(`qalqan init` makes one; --home or QALQAN_HOME names it)")
        # Read at start-up, so a missing or broken `disarm:` file is a ConfigError here
        # rather than an error page the first time the form needs it.
        self.disarm = Disarm.load(self.config.disarm_path)
        self.store = Store(self.config.database_path)
        self.trust = TrustStore(self.store)
        self.ingest = Ingest(
            self.store, self.trust, self.config.identity,
            feed_rules=lambda: self.config.feed_rules(),
            feed_ids=lambda: {f.name: f.id for f in self.config.feeds.values()},
            on_stored=[lambda stored: index_stored_batch(self.store, stored)],
        )
        self._seed_feeds()

    def reload_config_if_changed(self, min_interval: float = 1.0) -> bool:
        """Re-read config.yaml and feeds/*.yaml if they changed since this node last read
        them, so a running server follows edits (a reader removed, a ceiling lowered)
        without a restart. Looks at the files at most once per `min_interval` seconds;
        thread-safe. An edit that does not load leaves node.config as it was (the last
        good configuration) and sets `config_error`. True when node.config was replaced.
        The store stays open on the database it was opened on."""
        def apply(config: config_mod.Config) -> None:
            disarm = self.disarm if config.disarm_path == self.config.disarm_path else Disarm.load(config.disarm_path)
            self.config, self.disarm = config, disarm
            self._seed_feeds()  # a feed file added since carries the well-known objects too
        return self._config_watch.check(apply, min_interval)

    @property
    def _config_watch(self):
        from .confwatch import ConfigWatch
        watch = self.__dict__.get("_watch")
        # setdefault: two threads asking at once still share one watch
        return watch or self.__dict__.setdefault("_watch", ConfigWatch(self.home))

    @property
    def config_error(self) -> tuple[str, int] | None:
        """(message, since in µs) of the last config edit that did not load, while the
        files on disk still do not; None when they load."""
        watch = self.__dict__.get("_watch")
        if watch is None or watch.error is None:
            return None
        return watch.error.message, watch.error_since

    @cached_property
    def scoped_ids(self) -> ScopedIds:
        return ScopedIds(self.home)

    @cached_property
    def signing_key(self) -> SigningKey:
        self._finish_rotation()
        path = self.home / "keys" / "node.key"
        try:
            return SigningKey(load_private_key(path.read_bytes()), self.config.identity)
        except FileNotFoundError:
            raise ConfigError(f"{path}: the node key is missing") from None
        except ValueError:
            raise ConfigError(f"{path}: not a PEM PKCS#8 private key") from None

    def _seed_feeds(self) -> None:
        """Every feed carries the well-known objects and this node's card, so any
        STIX consumer can resolve markings, extensions and the signer."""
        have = {r["feed"] for r in self.store.query(
            "SELECT DISTINCT feed FROM feed_entries WHERE id = ?", [well_known_objects()[0]["id"]])}
        missing = [f for f in self.config.feeds.values() if f.id not in have]
        if not missing:
            return
        with self.store.transaction():
            rows = []
            for obj in well_known_objects():
                data = well_known_canonical()[obj["id"]]
                row = {"id": obj["id"], "version": obj.get("modified") or obj["created"], "type": obj["type"],
                       "spec_version": "2.1", "created_by": obj.get("created_by_ref"), "tlp": "clear",
                       "origin": "builtin", "source": None, "received": now_us(),
                       "digest": hashlib.sha256(data).hexdigest(), "key_id": None, "json": data.decode()}
                row["version"] = version_key(row["version"])
                if not self.store.has_version(row["id"], row["version"]):
                    self.store.insert_object(row)
                rows.append(row)
            card_row = self.store.one("SELECT * FROM objects WHERE id = ? AND latest = 1", [self.config.identity])
            if card_row:
                rows.append(card_row)
            for feed in missing:
                for row in rows:
                    self.store.add_to_feed(feed.id, row)

    # -- cards and trust -------------------------------------------------------

    def card(self) -> dict:
        """This node's current card, as its trust store pinned it (never an object
        that merely claims this node's id)."""
        card = self.trust.pinned_card(self.config.identity)
        if card is None:
            raise ConfigError("this node's card is missing from its database")
        return card

    def trust_card(self, card: dict) -> tuple[str, Summary]:
        """Pin a card handed over out of band, then re-verify the quarantine."""
        result = self.trust.pin(card)
        self.ingest.run([card], Door(IMPORT))
        return result, self.ingest.release_quarantine()

    def add_peer(self, name: str, card: dict, url: str, token: str | None = None, token_env: str | None = None,
                 pull: list[str] = (), push: list[str] = (), signed: bool = True) -> tuple[str, Summary]:
        result, released = self.trust_card(card) if signed else ("unsigned source", Summary())

        def change(data: dict) -> None:
            peers = data.get("peers") or {}
            entry = {"url": url}
            if card.get("id"):
                entry["identity"] = card["id"]
            if token:
                entry["token"] = token
            if token_env:
                entry["token_env"] = token_env
            entry["pull"] = list(pull)
            entry["push"] = list(push)
            if not signed:
                entry["signed"] = False
            peers[name] = entry
            data["peers"] = peers
        config_mod.update_config(self.home, change)
        self.config = config_mod.load(self.home)
        return result, released

    # -- incidents -------------------------------------------------------------

    def add_incident(self, data: dict) -> IncidentResult:
        record = incident_mod.validate(data, self.disarm, self.config["default_tlp"], set(self.config.feeds))
        return self.publish_record(record)

    def publish_record(self, record: incident_mod.Record) -> IncidentResult:
        def existing(oid: str) -> dict | None:
            text = self.store.object_json(oid)
            return json.loads(text) if text else None

        built = incident_mod.build(record, self.config.identity, self.config["node.country"], self.disarm,
                                   self.scoped_ids, existing)
        signed = [o if o["type"] in SCO_TYPES or signature_of(o) else sign(o, self.signing_key)
                  for o in built.objects]
        share = None if record.share is None else [self.config.feed(s).name for s in record.share]
        summary = self.ingest.run(signed, Door(OWN, share=share), batch=len(signed) + 1)
        if summary.failures:
            raise QalqanError("the incident could not be stored: " + summary.failures[0].reason)
        return IncidentResult(built.report_id, built.incident_id, summary)

    # -- files -----------------------------------------------------------------

    def import_stream(self, stream: IO[bytes], source: str | None = None, workers: int = 0) -> Summary:
        if source is not None and source not in self.config.peers:
            raise InputError(f"--from: no peer named {source!r} in config.yaml")
        door = Door(PEER, source=source) if source else Door(IMPORT)
        if source and not self.config.peers[source].signed:
            door = Door("external", source=source)
        return self.ingest.run(wire.iter_objects(stream), door, keep_outcomes=False, workers=workers)

    def verify_stream(self, open_stream) -> list[tuple[str, str]]:
        """Check every object of a file; returns (object id, reason) per failure."""
        extra = {}
        with open_stream() as stream:
            for obj in wire.iter_objects(stream):
                if obj.get("type") == "identity" and NODE_KEYS_EXT in (obj.get("extensions") or {}):
                    extra.update(self._keys_of_card_in_file(obj))
        failures = []
        with open_stream() as stream:
            for index, obj in enumerate(wire.iter_objects(stream)):
                oid = obj.get("id") or f"objects[{index}]"
                try:
                    self._verify_one(obj, extra)
                except QalqanError as exc:
                    failures.append((oid, exc.message))
        return failures

    def _keys_of_card_in_file(self, card: dict) -> dict:
        """Keys a card found in a file lends to `verify`: those of a node not pinned
        here if the card verifies with itself; for a pinned node, only a card that
        verifies as a rotation (signed by a key pinned for it)."""
        try:
            keys = keys_of_card(card)
            if self.trust.pinned_card(card["id"]) is not None:
                self.trust.verify(card)
            return keys
        except QalqanError:
            return {}

    def _verify_one(self, obj: dict, extra: dict) -> None:
        check_shape(obj)
        data = canonical(obj)
        builtin = well_known_canonical().get(obj["id"])
        if builtin is not None:
            if builtin != data:
                raise SignatureError(f"{obj['id']}: differs from the built-in copy of this well-known object")
            return
        if obj["type"] in SCO_TYPES:
            expected = deterministic_id(obj)
            if expected is not None and expected != obj["id"]:
                raise SignatureError(f"{obj['id']}: SCO id does not match its content")
            return
        self.trust.verify(obj, data, extra=extra)

    def export(self, out: IO[str], feed: str | None = None, everything: bool = False) -> int:
        """Write a STIX bundle; returns the number of objects."""
        if feed is not None:
            chosen = self.config.feed(feed)
            allowed = ", ".join(f"'{t}'" for t in TLP_ORDER if may_carry(chosen.max_tlp, t))
            sql = ("SELECT o.json, e.seq AS k FROM feed_entries e"
                   " JOIN objects o ON o.id = e.id AND o.version = e.version"
                   f" WHERE e.feed = ? AND e.deleted = 0 AND e.latest = 1 AND e.tlp IN ({allowed})"
                   " AND e.seq > ? ORDER BY e.seq LIMIT 1000")
            rows = self._paged(sql, [chosen.id])
        else:
            where = "o.latest = 1" if everything else "o.latest = 1 AND o.origin IN ('own', 'builtin')"
            restricted = ", ".join(f"'{t}'" for t in NEVER_SHARED)
            sql = (f"SELECT o.json, o.rowid AS k FROM objects o WHERE {where} AND o.tlp NOT IN ({restricted})"
                   " AND o.rowid > ? ORDER BY o.rowid LIMIT 1000")
            rows = self._paged(sql, [])
        out.write('{"type":"bundle","id":"bundle--%s","objects":[' % uuid.uuid4())
        count = 0
        for row in rows:
            out.write(("\n" if count == 0 else ",\n") + row["json"])
            count += 1
        out.write("\n]}\n")
        return count

    def _paged(self, sql: str, params: list) -> Iterator[dict]:
        """Rows of `sql` in pages of 1,000 keyed on its column `k` (its last parameter
        is the key to start after), so an export holds one page at a time."""
        last = -1
        while True:
            rows = self.store.query(sql, [*params, last])
            yield from rows
            if len(rows) < 1000:
                return
            last = rows[-1]["k"]

    def rotate_key(self, revoke_old: bool = False) -> str:
        """Make a new signing key and publish a new card version listing it, signed by
        the current key so partners accept it (signing.md: rotation). Returns the new key id."""
        old = self.signing_key
        card = self.card()
        keys = [dict(k) for k in card["extensions"][NODE_KEYS_EXT]["keys"]]
        now = incident_mod.stix_now()
        if revoke_old:
            for entry in keys:
                if entry["key_id"] == old.key_id:
                    entry["revoked"] = now
        new_key = Ed25519PrivateKey.generate()
        next_path = self.home / "keys" / "node.key.next"
        next_path.unlink(missing_ok=True)
        _write_private(next_path, private_key_pem(new_key))  # on disk before any partner can hear of it
        pub = raw_public_bytes(new_key.public_key())
        keys.append({"key_id": key_id_of(pub), "algorithm": "Ed25519", "public_key": b64u_encode(pub),
                     "valid_from": now})
        unsigned = {k: v for k, v in card.items() if k != "extensions"}
        unsigned["modified"] = now
        unsigned["extensions"] = {NODE_KEYS_EXT: {**card["extensions"][NODE_KEYS_EXT], "keys": keys}}
        summary = self.ingest.run([sign(unsigned, old)], Door(OWN))
        if summary.failures:
            next_path.unlink()
            raise QalqanError("the new card could not be stored: " + summary.failures[0].reason)
        self._finish_rotation()
        return key_id_of(pub)

    def _finish_rotation(self) -> None:
        """Put keys/node.key.next in place once the card listing it is stored; a
        rotation interrupted before that leaves the old key in use. Idempotent, so
        opening the home after a crash completes what was started."""
        keys = self.home / "keys"
        next_path = keys / "node.key.next"
        if not next_path.exists():
            return
        new_key = load_private_key(next_path.read_bytes())
        card = self.trust.pinned_card(self.config.identity) or {}
        listed = {k["key_id"] for k in card.get("extensions", {}).get(NODE_KEYS_EXT, {}).get("keys", [])}
        if key_id_of(new_key.public_key()) not in listed:
            next_path.unlink()
            return
        current = keys / "node.key"
        if current.exists():
            old_id = key_id_of(load_private_key(current.read_bytes()).public_key())
            os.replace(current, keys / f"node.key.{old_id[7:19]}.retired")
        os.replace(next_path, current)
        (keys / "node.pub").write_bytes(public_key_pem(new_key.public_key()))
        self.__dict__.pop("signing_key", None)

    # -- tokens ------------------------------------------------------------------

    def create_token(self, peer: str) -> str:
        if not config_mod.NAME_RE.match(peer):
            raise InputError(f"NAME: {peer!r} is not a peer name (a-z, 0-9, _ or -)")
        secret = "qk_" + secrets.token_urlsafe(32)
        with self.store.transaction() as db:
            db["tokens"].insert({"id": secrets.token_hex(8), "peer": peer, "hash": token_hash(secret),
                                 "created": now_us()})
        return secret

    def peer_identity(self, peer: str) -> str | None:
        entry = self.config.peers.get(peer)
        return entry.identity if entry else None

    def peer_for_token(self, secret: str, claimed_peer: str | None = None) -> str | None:
        """The peer a secret belongs to (constant-time compare), or None."""
        digest = token_hash(secret)
        found = None
        rows = self.store.query("SELECT peer, hash FROM tokens" +
                                (" WHERE peer = ?" if claimed_peer else ""),
                                [claimed_peer] if claimed_peer else [])
        for row in rows:
            if hmac.compare_digest(row["hash"], digest):
                found = row["peer"]
        return found

    # -- status ------------------------------------------------------------------

    def status(self) -> dict:
        counts = self.store.counts()
        peers = {r["name"]: r for r in self.store.query("SELECT * FROM peers")}
        return {
            "name": self.config.name, "identity": self.config.identity, "country": self.config["node.country"],
            "key_id": self.signing_key.key_id, "counts": counts,
            "peers": [{"name": name, **{k: v for k, v in (peers.get(name) or {}).items() if k != "name"}}
                      for name in self.config.peers],
            "trusted": self.trust.cards(),
        }


def token_hash(secret: str) -> str:
    # Tokens are 256-bit random: a fast hash is enough and keeps auth cheap per request.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
