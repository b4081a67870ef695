"""A node's home folder and the library API the CLI, the web UI and sync call.

`init_home` makes a home; `Node(home)` opens one: its config, store, trust store,
signing key, DISARM index and the one ingest path.
"""
from __future__ import annotations

import json
import os
import uuid
from urllib.parse import urlsplit
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO

from . import config as config_mod
from . import export as export_mod
from . import incident as incident_mod
from . import keys as keys_mod
from . import tokens
from .disarm import Disarm
from .errors import ConfigError, InputError, QalqanError
from .incident_index import index_stored_batch
from .reaction_index import index_reactions
from .response_index import index_stored_responses
from .ingest import IMPORT, OWN, Door, Ingest, Summary
from .keys import make_card
from .object_ids import ScopedIds, create_secret
from .policy import is_node_card
from .sco import SCO_TYPES
from .signing import SigningKey, key_id_of, sign, signature_of
from .store import Store
from .trust import TrustStore, keys_of_card
from .verify import QUARANTINED, check as check_object
from .wellknown import QALQAN_IDENTITY_ID
from . import wire
from .alerts.events import AlertHook


def init_home(home: Path, name: str, country: str, url: str | None = None,
              organisation: str | None = None) -> tuple[str, str]:
    """Make a node's home: config, key pair, card, default feeds, database. The card's
    `name` is `organisation` (who the node is to partners and importers), else `name`
    (the short name peers call the node by)."""
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
    if organisation is not None:
        keys_mod.check_organisation(organisation)
    if url is not None and url.rstrip("/").count("/") > 2:
        raise InputError("--url: give the base URL with no path, e.g. http://127.0.0.1:8001")
    identity = f"identity--{uuid.uuid4()}"
    (home / "keys").mkdir(parents=True, exist_ok=True)
    os.chmod(home / "keys", 0o700)
    (home / "feeds").mkdir(exist_ok=True)
    (home / "data").mkdir(mode=0o700, exist_ok=True)
    key = keys_mod.write_new_key(home / "keys")
    create_secret(home)
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
    card = make_card(identity, organisation or name, country, key)
    node.trust.pin(card)
    node.ingest.run([card], Door(OWN))
    return identity, key_id_of(key.public_key())


@dataclass
class IncidentResult:
    report_id: str
    incident_id: str
    summary: Summary


class Node:
    def __init__(self, home: Path | str, key_lost: bool = False):
        """`key_lost`: open a home whose key is gone (for `key reset`, and only if its
        database exists)."""
        self.home = Path(home)
        self.config = config_mod.load(self.home)
        keys = self.home / "keys"
        if key_lost and not self.config.database_path.exists():
            raise ConfigError(f"{self.config.database_path}: no database, so {self.home} is not a node's home")
        if not key_lost and not (keys / "node.key").exists() and not (keys / "node.key.next").exists():
            # Before the database is touched: a folder with a config.yaml but no key (the
            # repository's reference config.yaml, a half-copied home) is not a node.
            raise ConfigError(f"{keys / 'node.key'}: no node key, so {self.home} is not a node's home "
                              "(`qalqan init` makes one; --home or QALQAN_HOME names it; if the key was lost, "
                              "`qalqan key reset` makes a new one)")
        # Read at start-up, so a missing or broken `disarm:` file is a ConfigError here
        # rather than an error page the first time the form needs it.
        self.disarm = Disarm.load(self.config.disarm_path)
        self.store = Store(self.config.database_path)
        self.trust = TrustStore(self.store)
        self.alerts = AlertHook(self.store)
        self.ingest = Ingest(
            self.store, self.trust, self.config.identity,
            feed_rules=lambda: self.config.feed_rules(),
            feed_ids=lambda: {f.name: f.id for f in self.config.feeds.values()},
            # The alerts look at the index before and after it takes the batch (node/alerts/events.py).
            on_stored=[self.alerts.before_index, lambda stored: index_stored_batch(self.store, stored),
                       lambda stored: index_reactions(self.store, stored),
                       lambda stored: index_stored_responses(self.store.conn, stored), self.alerts.after_index],
            max_object_bytes=lambda: self.config["taxii.max_object_bytes"],
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
        return keys_mod.load_signing_key(self.home / "keys", self.config.identity)

    def _seed_feeds(self) -> None:
        """Every feed carries the well-known objects and this node's card, so any
        STIX consumer can resolve extensions and the signer (markings come with the
        objects that reference them, node/markings.py)."""
        have = {r["feed"] for r in self.store.query(
            "SELECT DISTINCT feed FROM feed_entries WHERE id = ?", [QALQAN_IDENTITY_ID])}
        missing = [f.id for f in self.config.feeds.values() if f.id not in have]
        if missing:
            self.ingest.seed_feeds(missing)

    # -- cards and trust -------------------------------------------------------

    def card(self) -> dict:
        """This node's current card, as its trust store pinned it (never an object
        that merely claims this node's id)."""
        card = self.trust.pinned_card(self.config.identity)
        if card is None:
            raise ConfigError("this node's card is missing from its database")
        return card

    def trust_card(self, card: dict, by: str = "cli") -> tuple[str, Summary]:
        """Pin a card handed over out of band (audited), then re-verify the quarantine."""
        result = self.trust.pin(card)
        self._audit("trust-added", by, f"card of {card.get('name')} ({card.get('id')}): {result}")
        self.ingest.run([card], Door(IMPORT))
        return result, self.ingest.release_quarantine()

    def add_peer(self, name: str, card: dict, url: str, token: str | None = None, token_env: str | None = None,
                 pull: list[str] = (), push: list[str] = (), signed: bool = True,
                 tls: dict[str, str] | None = None, by: str = "cli") -> tuple[str, Summary]:
        """`tls`: the peer's `ca`, `client_cert`, `client_key` (paths relative to the home)."""
        result, released = self.trust_card(card, by) if signed else ("unsigned source", Summary())

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
            entry.update({k: v for k, v in (tls or {}).items() if v})
            peers[name] = entry
            data["peers"] = peers
        config_mod.update_config(self.home, change)
        self.config = config_mod.load(self.home)
        self._audit("peer-added", by, f"peer {name} at {url}: pulls {', '.join(pull) or '-'}, "
                                      f"pushes {', '.join(push) or '-'}" + ("" if signed else "; unsigned"))
        return result, released

    def _audit(self, event: str, by: str, what: str) -> None:
        """An access change, with who made it ("cli" or "admin NAME")."""
        with self.store.transaction():
            self.store.audit(event, None, None, by, what)

    # -- incidents -------------------------------------------------------------

    def add_incident(self, data: dict) -> IncidentResult:
        record = incident_mod.validate(data, self.disarm, self.config["default_tlp"], set(self.config.feeds))
        return self.publish_record(record)

    def held_object(self, object_id: str) -> dict | None:
        """The latest version held of an object."""
        text = self.store.object_json(object_id)
        return json.loads(text) if text else None

    def publish_record(self, record: incident_mod.Record) -> IncidentResult:
        built = incident_mod.build(record, self.config.identity, self.config["node.country"], self.disarm,
                                   self.scoped_ids, self.held_object)
        share = None if record.share is None else [self.config.feed(s).name for s in record.share]
        return self.publish_objects(built.objects, share, record.disarm, built.report_id, built.incident_id)

    def publish_objects(self, objects: list[dict], share: list[str] | None, techniques: list[str],
                        report_id: str, incident_id: str) -> IncidentResult:
        """Sign what is not signed yet and store it as the node's own, in the feeds
        `share` names (every feed its TLP allows, if None)."""
        signed = [o if o["type"] in SCO_TYPES or signature_of(o) else sign(o, self.signing_key) for o in objects]
        summary = self.ingest.run(signed, Door(OWN, share=share), batch=len(signed) + 1)
        if summary.failures:
            raise QalqanError("the incident could not be stored: " + summary.failures[0].reason)
        self.ingest.add_reference(self.disarm.release_objects(techniques), share)  # for OpenCTI's feeds
        return IncidentResult(report_id, incident_id, summary)

    def edit_incident(self, incident_id: str, data: dict, lower_tlp_confirmed: bool = False) -> IncidentResult:
        from .corrections import edit_incident
        return edit_incident(self, incident_id, data, lower_tlp_confirmed)

    def withdraw_incident(self, incident_id: str, reason: str) -> IncidentResult:
        from .corrections import withdraw_incident
        return withdraw_incident(self, incident_id, reason)

    def add_sighting(self, incident_id: str, data) -> IncidentResult:
        from .sightings import add_sighting
        return add_sighting(self, incident_id, data)

    def record_opinion(self, incident_id: str, opinion: str, explanation: str | None = None) -> IncidentResult:
        from .opinions import record_opinion
        return record_opinion(self, incident_id, opinion, explanation)
    # -- responses ---------------------------------------------------------------

    def add_response(self, incident_id: str, data: dict, by: str = "cli"):
        """Record a countermeasure taken against an incident held here (node/responses.py)."""
        from .responses import add_response
        return add_response(self, incident_id, data, by)

    # -- files -----------------------------------------------------------------

    def import_stream(self, stream: IO[bytes], source: str | None = None, workers: int = 0) -> Summary:
        if source is not None and source not in self.config.peers:
            raise InputError(f"--from: no peer named {source!r} in config.yaml")
        door = Door.for_peer(source, self.config.peers[source]) if source else Door(IMPORT)
        return self.ingest.run(wire.iter_objects(stream), door, keep_outcomes=False, workers=workers)

    def verify_stream(self, open_stream, trust_file_cards: bool = False) -> list[tuple[str, str]]:
        """Check every object of a file as ingest would, storing nothing; returns
        (object id, reason) per object that would be rejected or quarantined.

        Validity is not trust: an object whose signature verifies only with the key of a
        card in the same file for a node not pinned here (see _keys_of_cards_in_file) is
        reported "valid signature, signer not trusted", unless `trust_file_cards`."""
        with open_stream() as stream:
            rotated, strangers = self._keys_of_cards_in_file(wire.iter_objects(stream))
        trusted = {**rotated, **self.trust.keys()}  # a pinned key always wins over one from the file
        with_strangers = {**strangers, **trusted}
        failures = []
        with open_stream() as stream:
            for index, obj in enumerate(wire.iter_objects(stream)):
                item = check_object(obj, IMPORT, trusted)
                if item.outcome is not None and item.outcome.status == QUARANTINED and strangers:
                    item = check_object(obj, IMPORT, with_strangers)
                    if not item.failed and not trust_file_cards:
                        failures.append((item.id or f"objects[{index}]", _with_id(
                            item.id, f"valid signature, signer not trusted ({_signer_of(obj)} is not pinned here; "
                                     "its card is only in the file)")))
                        continue
                if item.failed:
                    failures.append((item.id or f"objects[{index}]", _with_id(item.id, item.outcome.reason)))
        return failures

    def _keys_of_cards_in_file(self, objects) -> tuple[dict, dict]:
        """Keys the cards in a file lend to `verify`, as (rotated, strangers): for a node
        pinned here, those of a card that verifies as a rotation (signed by a key pinned
        for it), which ingest would take, so they are trusted; for a node not pinned here,
        those of a card that verifies with itself, which proves validity, not trust.
        A card claiming a pinned node's identity that is not a rotation lends nothing."""
        rotated, strangers = {}, {}
        for obj in objects:
            if not is_node_card(obj):
                continue
            try:
                keys = keys_of_card(obj)
                pinned = self.trust.pinned_card(obj["id"]) is not None
                if pinned:
                    self.trust.verify(obj)
            except QalqanError:
                continue
            (rotated if pinned else strangers).update(keys)
        return rotated, strangers

    def export(self, out: IO[str], feed: str | None = None, everything: bool = False) -> int:
        """Write a STIX bundle; returns the number of objects (see export.py)."""
        chosen = self.config.feed(feed) if feed is not None else None
        return export_mod.write_bundle(self.store, out, chosen, everything)

    def _publish_card(self, card: dict) -> None:
        """Store (and so pin and serve) a new version of this node's card."""
        summary = self.ingest.run([card], Door(OWN))
        if summary.failures:
            raise QalqanError("the new card could not be stored: " + summary.failures[0].reason)

    def organisation(self) -> str:
        """Who this node is: its card's name (the organisation, or the short name of a
        node made without --org)."""
        return self.card()["name"]

    def set_organisation(self, organisation: str, by: str = "cli") -> dict:
        """Publish a card version naming `organisation`, signed by the current key;
        partners take it like a rotation's card. Returns the card."""
        card = keys_mod.renamed_card(self.card(), self.signing_key, organisation)
        self._publish_card(card)
        self._audit("card-renamed", by, f"card version {card['modified']} names {organisation!r}")
        return card

    def rotate_key(self, revoke_old: bool = False, by: str = "cli") -> str:
        """Make a new signing key and publish a new card version listing it, signed by
        the current key so partners accept it (signing.md: rotation). Returns the new key id."""
        key_id = keys_mod.rotate(self.home / "keys", self.card(), self.signing_key, self._publish_card, revoke_old)
        self._finish_rotation()
        self._audit("key-rotated", by, f"signing key {key_id}" + ("; the old key revoked" if revoke_old else ""))
        return key_id

    def reset_key(self, revoked_at: str | None = None, by: str = "cli") -> dict:
        """After the key is lost or compromised: a new key under the same identity and a
        card version signed by it alone, revoking every earlier key at `revoked_at`
        (default now). Partners take it only with `trust replace`. Returns the card."""
        def publish(card: dict) -> None:
            self.trust.replace(card, None, by)
            summary = self.ingest.run([card], Door(OWN))
            if summary.failures:
                raise QalqanError("the new card could not be stored: " + summary.failures[0].reason)
        card = keys_mod.reset(self.home / "keys", self.card(), publish, revoked_at)
        self._finish_rotation()
        self._audit("key-reset", by, f"new card version {card['modified']}; earlier keys revoked")
        return card

    def replace_trust(self, card: dict, fingerprint: str, by: str = "cli") -> tuple[str, Summary]:
        """Take by hand the card a partner made with `key reset` (see TrustStore.replace),
        then re-verify the quarantine, where its objects signed by the new key wait."""
        if card.get("id") == self.config.identity:
            raise InputError("--card: this is this node's own card")
        result = self.trust.replace(card, fingerprint, by)
        self.ingest.run([card], Door(IMPORT))
        return result, self.ingest.release_quarantine()

    def _finish_rotation(self) -> None:
        """Complete a rotation whose card is stored (see keys.finish_rotation)."""
        if keys_mod.finish_rotation(self.home / "keys", self.trust.pinned_card(self.config.identity)):
            self.__dict__.pop("signing_key", None)

    # -- tokens ------------------------------------------------------------------

    def create_token(self, peer: str, keep_old: bool = False, by: str = "cli") -> str:
        return tokens.create(self.store, peer, keep_old=keep_old, by=by)

    def peer_identity(self, peer: str) -> str | None:
        entry = self.config.peers.get(peer)
        return entry.identity if entry else None

    def peer_for_token(self, secret: str, claimed_peer: str | None = None) -> str | None:
        """The peer a secret belongs to, or None (see tokens.py)."""
        return tokens.peer_for_token(self.store, secret, claimed_peer)

    # -- status ------------------------------------------------------------------

    def status(self) -> dict:
        from .sync.health import peer_states
        counts = self.store.counts()
        peers = peer_states(self.store)
        return {
            "name": self.config.name, "organisation": self.organisation(), "identity": self.config.identity,
            "country": self.config["node.country"],
            "key_id": self.signing_key.key_id, "counts": counts,
            "peers": [{"name": name, **{k: v for k, v in (peers.get(name) or {}).items() if k != "name"}}
                      for name in self.config.peers],
            "trusted": self.trust.cards(),
        }



def _signer_of(obj: dict) -> str:
    sig = signature_of(obj)
    return sig.get("signer", "the signer") if isinstance(sig, dict) else "the signer"


def _with_id(oid: str | None, reason: str) -> str:
    """Reasons name the object once, whether or not the check already did."""
    return reason if oid is None or reason.startswith(oid) else f"{oid}: {reason}"
