"""The one path every received object takes (docs/signing.md, "Receiving an object").

Own objects, file imports, TAXII POSTs and sync pulls all come through `Ingest.run`:
parse strictly (done by `wire`), check shape and verify (`verify.check`, steps 2-3, the
same routine `qalqan verify` and the provenance page use), apply the versioning rules,
store the canonical bytes, publish to the feeds policy allows. Unknown signers are
quarantined and re-verified when the trust store changes; every rejection is audited.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from . import markings, policy
from .errors import QalqanError
from .incident_index import strings
from .policy import is_node_card
from .sco import SCO_TYPES
from .signing import canonical, signature_of
from .store import OWN, Store
from .timefmt import now_us, us_to_taxii, version_key
from .trust import TrustStore, keys_from_snapshot
from .verify import (ACCEPTED, DUPLICATE, EXTERNAL, HELD_OBJECT, HELD_VERSION, QUARANTINED, REJECTED, Checked,
                     Outcome, check, check_shape)
from .wellknown import well_known_objects

if TYPE_CHECKING:
    from .config import Peer

# Where an object came from decides which feeds it may enter.
# OWN (from .store): created by this node (incident add, own import)
PEER = "peer"          # from a partner node: TAXII POST, sync pull, import --from
IMPORT = "import"      # a file import with no peer named
# EXTERNAL (from .verify): an unsigned third-party source: stored, never relayed
BUILTIN = "builtin"    # the well-known objects every node ships (wellknown.py)
REFERENCE = "reference"  # third-party objects served unchanged beside own incidents (add_reference)


@dataclass
class Summary:
    counts: dict = field(default_factory=lambda: {ACCEPTED: 0, DUPLICATE: 0, QUARANTINED: 0, REJECTED: 0})
    outcomes: list[Outcome] = field(default_factory=list)
    keep_outcomes: bool = True
    quarantined_here: set = field(default_factory=set)

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.status] += 1
        if self.keep_outcomes or outcome.status == REJECTED:
            self.outcomes.append(outcome)

    def replace_released(self, released: "Summary") -> None:
        """Objects quarantined earlier in this run and released at its end: report
        what finally became of them."""
        final = {(o.id, o.version): o for o in released.outcomes if o.status != QUARANTINED}
        for status in (ACCEPTED, DUPLICATE, REJECTED):
            moved = sum(1 for o in final.values() if o.status == status)
            self.counts[QUARANTINED] -= moved
            self.counts[status] += moved
        self.outcomes = [final.get((o.id, o.version), o) if o.status == QUARANTINED else o for o in self.outcomes]

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == REJECTED]

    def line(self) -> str:
        c = self.counts
        return (f"accepted {c[ACCEPTED]}, duplicate {c[DUPLICATE]}, "
                f"quarantined {c[QUARANTINED]}, rejected {c[REJECTED]}")


@dataclass
class Door:
    """How a batch arrived: origin, the peer it came from, and (own objects) the
    feeds named by the record's `share`."""

    origin: str
    source: str | None = None
    share: list[str] | None = None

    @classmethod
    def for_peer(cls, name: str, entry: Peer | None) -> "Door":
        """The door of objects from peer `name` (TAXII POST, sync pull, import --from).
        Only a peer configured `signed: false` is an unsigned source; a token holder with
        no config entry is held to signatures like any partner."""
        return cls(EXTERNAL if entry is not None and not entry.signed else PEER, source=name)


class Ingest:
    def __init__(self, store: Store, trust: TrustStore, own_identity: str,
                 feed_rules: Callable[[], list], feed_ids: Callable[[], dict[str, str]],
                 on_stored: Iterable[Callable[[list[tuple[dict, dict]]], None]] = (),
                 max_object_bytes: Callable[[], int] = lambda: 1024 * 1024):
        self.store = store
        self.max_object_bytes = max_object_bytes
        self.trust = trust
        self.own_identity = own_identity
        self.feed_rules = feed_rules
        self.feed_ids = feed_ids
        self.on_stored = list(on_stored)

    def run(self, objects: Iterable[dict], door: Door, batch: int = 500, keep_outcomes: bool = True,
            verify_at_us: int | None = None, workers: int = 0) -> Summary:
        """Ingest objects in transactions of `batch`; each batch commits or not at all.

        With `workers`, the pure checks (shape, canonical form, signature) of large
        inputs run in that many processes while this one stores; results are the same."""
        summary = Summary(keep_outcomes=keep_outcomes)
        self.trust.check_for_changes()
        cards_before = self._card_versions()
        with _checker(door.origin, verify_at_us, workers, self.trust) as check_batch:
            for chunk in check_batch(_chunks(objects, batch)):
                self._store_batch(chunk, door, summary, verify_at_us)
        if summary.quarantined_here and self._card_versions() != cards_before:
            # Workers checked against the keys at the start; a card stored during the
            # run may let objects quarantined for it verify now.
            released = self.release_quarantine(only=summary.quarantined_here)
            summary.replace_released(released)
        return summary

    def _card_versions(self) -> tuple:
        return tuple(self.store.one("SELECT COUNT(*) AS n, MAX(version) AS v FROM cards").values())

    def _store_batch(self, items: list, door: Door, summary: Summary, verify_at_us) -> None:
        rules, ids, max_bytes = self.feed_rules(), self.feed_ids(), int(self.max_object_bytes())
        stored: list[tuple[dict, dict]] = []
        with self.store.transaction():
            for item in items:
                if not isinstance(item, Checked) or self._key_changed_since_check(item, verify_at_us):
                    obj = item.obj if isinstance(item, Checked) else item
                    item = check(obj, door.origin, self.trust.keys(), verify_at_us)  # keys as they are now
                outcome = _too_large(item, max_bytes) or self._store_one(item, door, rules, ids, stored)
                summary.add(outcome)
                if outcome.status == QUARANTINED:
                    summary.quarantined_here.add((item.id, item.version or "", item.digest))
                if outcome.status == REJECTED:
                    self.store.audit("rejected", outcome.id, outcome.version, door.source or door.origin,
                                     outcome.reason)
            for hook in self.on_stored:
                hook(stored)

    def _key_changed_since_check(self, item: "Checked", at_us: int | None) -> bool:
        """A worker verified against the keys at the start of the run; a card stored
        since may have revoked or dropped the key."""
        if item.key_id is None:
            return False
        key = self.trust.keys().get(item.key_id)
        return key is None or (key.revoked_us is not None and (at_us or now_us()) >= key.revoked_us)

    def _store_one(self, item: "Checked", door: Door, rules, ids, stored: list) -> Outcome:
        if item.outcome is not None:
            if item.outcome.status == QUARANTINED:
                return self._quarantine(item, door)
            if item.revoked_key and self._held_byte_for_byte(item):
                # verified when it first came, before the revocation: what was accepted stays
                return self._duplicate(item.obj, item.version, door, rules, ids)
            return item.outcome
        obj, oid, version, digest, data, key_id = item.obj, item.id, item.version, item.digest, item.data, item.key_id
        is_sco = obj["type"] in SCO_TYPES
        held = self.store.versions_of(oid)
        ours_held = is_sco and any(h["origin"] == OWN for h in held)
        if is_sco:
            same = next((h for h in held if h["digest"] == digest), None)
            if same is not None:
                withheld = policy.withholds_others_variant(True, ours_held, same["origin"] == OWN)
                return self._duplicate(obj, same["version"], door, rules, ids, withheld)
            version = self._fresh_sco_version(held)
        else:
            same = next((h for h in held if h["version"] == version), None)
            if same is not None:
                if same["digest"] == digest:
                    return self._duplicate(obj, version, door, rules, ids)
                self.store.audit("equivocation", oid, version, door.source or door.origin,
                                 "different content under a version already held")
                return Outcome(oid, version, REJECTED, "equivocation: different content under an (id, modified) "
                                                      "already held", HELD_VERSION)
            if held and held[0]["created_by"] != obj.get("created_by_ref"):
                return Outcome(oid, version, REJECTED, "only the creator of an object may version it", HELD_OBJECT)

        verified_own = key_id is not None and obj.get("created_by_ref") == self.own_identity
        if is_node_card(obj) and key_id is not None:
            try:
                self.trust.check_card_update(obj)
            except QalqanError as exc:
                return Outcome(oid, version, REJECTED, exc.message)
        tlp = policy.tlp_of(obj)
        origin = OWN if verified_own or door.origin == OWN else door.origin
        row = object_row(obj, version, data, digest, tlp, origin, door.source, key_id)
        self.store.insert_object(row, held)
        withheld = policy.withholds_others_variant(is_sco, ours_held, origin == OWN)
        feeds = [] if withheld else self._feeds_for(tlp, door, rules, origin == OWN, policy.profile_of(obj))
        for feed_name in feeds:
            markings.publish(self.store, ids[feed_name], row, obj, new_object=not held)
        if obj["type"] == "report":
            self.store.set_report_refs(oid, version, strings(obj.get("object_refs")))  # signed is not well-formed
        if is_node_card(obj) and key_id is not None:
            self.trust.apply_card_version(obj)
        stored.append((obj, row))
        return Outcome(oid, version, ACCEPTED)

    def _held_byte_for_byte(self, item: "Checked") -> bool:
        return any(h["version"] == item.version and h["digest"] == item.digest for h in self.store.versions_of(item.id))

    def feeds_for_new(self, obj: dict, door: Door) -> list[str]:
        """The feeds `obj` would enter if it arrived by `door` and were not held yet."""
        return self._feeds_for(policy.tlp_of(obj), door, self.feed_rules(), door.origin == OWN, policy.profile_of(obj))

    @staticmethod
    def _feeds_for(tlp: str, door: Door, rules, own: bool, profile: str | None) -> list[str]:
        """`own`: created by this node, as its verified signature shows."""
        if door.origin == OWN or (door.origin == IMPORT and own):
            return policy.feeds_for_own(tlp, rules, door.share, profile)
        if door.origin == PEER and door.source and not own:
            return policy.feeds_for_relay(tlp, door.source, rules, profile)
        return []

    def _duplicate(self, obj: dict, version: str, door: Door, rules, ids, withheld: bool = False) -> Outcome:
        """A version already held still joins the feeds this door would put it in:
        an own location or URL re-shared by a later incident, or a partner's object
        that first came by a door that does not relay (a plain import). `withheld`:
        another's variant of an observable this node holds as its own joins none."""
        if door.origin in (OWN, PEER) and not withheld:
            row = self.store.one("SELECT id, version, type, spec_version, tlp, origin, source FROM objects"
                                 " WHERE id = ? AND version = ?", [obj["id"], version])
            if door.origin == PEER and door.source and row["origin"] != OWN and row["source"] != door.source:
                self.store.note_peer_copy(door.source, obj["id"], version)  # so push never sends it back
            for feed_name in self._feeds_for(row["tlp"], door, rules, row["origin"] == OWN, policy.profile_of(obj)):
                markings.publish(self.store, ids[feed_name], row, obj)
        return Outcome(obj["id"], version, DUPLICATE, about_held=HELD_VERSION)

    @staticmethod
    def _fresh_sco_version(held: list[dict]) -> str:
        """SCOs have no timestamps: a new variant is versioned by when it was stored."""
        taken = {h["version"] for h in held}
        us = now_us()
        while us_to_taxii(us) in taken:
            us += 1
        return us_to_taxii(us)

    def _quarantine(self, item: "Checked", door: Door) -> Outcome:
        obj = item.obj
        signer = obj.get("created_by_ref") if isinstance(obj.get("created_by_ref"), str) else None
        sig = signature_of(obj) or {}
        self.store.quarantine({
            "id": item.id, "version": item.version or "", "digest": item.digest, "signer": signer,
            "key_id": sig.get("key_id"), "reason": item.outcome.reason, "origin": door.origin,
            "source": door.source, "received": now_us(), "json": item.data.decode("utf-8"),
        })
        return item.outcome

    def seed_feeds(self, feed_ids: list[str]) -> None:
        """Put the built-in objects and this node's card into these feeds, so any STIX
        consumer can resolve extensions and the signer. The built-in objects are stored
        on first use with origin `builtin`; `check` would take any copy of them as a
        duplicate, which is why they do not come through `run`. The TLP markings are
        stored but enter a feed only with an object that references them (markings.py)."""
        with self.store.transaction():
            rows = []
            for obj in well_known_objects():
                item = check(obj, BUILTIN, {})
                row = object_row(obj, item.version, item.data, item.digest, "clear", BUILTIN)  # public by nature
                if not self.store.has_version(row["id"], row["version"]):
                    self.store.insert_object(row)
                rows.append(row)
            card_row = self.store.one("SELECT * FROM objects WHERE id = ? AND latest = 1", [self.own_identity])
            if card_row:
                rows.append(card_row)
            for feed_id in feed_ids:
                for row in rows:
                    markings.publish(self.store, feed_id, row, json.loads(row["json"]))

    def add_reference(self, objects: list[dict], share: list[str] | None) -> int:
        """Serve third-party objects unchanged and unsigned beside an own incident: the
        DISARM attack-patterns it relates to, with their author and markings, from the
        release named in config (Disarm.release_objects). Public data (stored as
        TLP:CLEAR, origin `reference`), put only in the feeds for OpenCTI among `share`:
        Qalqan nodes know DISARM from their own release and accept no unsigned object.
        A version held with other content is left alone. Returns the objects placed."""
        feeds = policy.feeds_for_own("clear", self.feed_rules(), share, policy.OPENCTI)
        ids, placed = self.feed_ids(), 0
        if not feeds:
            return 0
        with self.store.transaction():
            stored = []
            for obj in objects:  # all stored first, so a marking is held when what it marks is placed
                check_shape(obj)
                data = canonical(obj)
                version = version_key(obj.get("modified") or obj["created"])
                row = object_row(obj, version, data, hashlib.sha256(data).hexdigest(), "clear", REFERENCE)
                held = self.store.has_version(row["id"], version)
                if held is None:
                    self.store.insert_object(row)
                elif held["digest"] != row["digest"]:
                    continue
                stored.append((row, obj))
            for row, obj in stored:
                for name in feeds:
                    markings.publish(self.store, ids[name], row, obj)
                placed += 1
        return placed

    def release_quarantine(self, only: set[tuple] | None = None) -> Summary:
        """Re-verify quarantined objects (all, or `only` these (id, version, digest))
        after the trust store changed."""
        from .wire import loads
        summary = Summary()
        columns = "SELECT id, version, digest, origin, source, json FROM quarantine"
        if only is None:
            rows = self.store.query(columns + " ORDER BY received")
        else:
            rows = [r for key in sorted(only)
                    for r in self.store.query(columns + " WHERE id = ? AND version = ? AND digest = ?", key)]
        for row in rows:
            door = Door(origin=row["origin"], source=row["source"])
            one = self.run([loads(row["json"])], door)
            outcome = one.outcomes[0]
            if outcome.status != QUARANTINED:
                with self.store.transaction() as db:
                    db.execute("DELETE FROM quarantine WHERE id = ? AND version = ? AND digest = ?",
                               [row["id"], row["version"], row["digest"]])
            summary.add(outcome)
        return summary


def _too_large(item: "Checked", max_bytes: int) -> Outcome | None:
    """Every page must be able to carry any object (taxii.max_page_bytes), and none may
    cost a reader more than this; refused before it is stored or quarantined."""
    if len(item.data) <= max_bytes:
        return None
    return Outcome(item.id, item.version, REJECTED, f"the object is {len(item.data)} bytes in canonical form, more "
                                                    f"than taxii.max_object_bytes ({max_bytes})")


def object_row(obj: dict, version: str, data: bytes, digest: str, tlp: str, origin: str,
               source: str | None = None, key_id: str | None = None) -> dict:
    """The `objects` row of a checked object: its canonical bytes and what queries need."""
    return {
        "id": obj["id"], "version": version, "type": obj["type"], "spec_version": "2.1",
        "created_by": obj.get("created_by_ref"), "tlp": tlp, "origin": origin, "source": source,
        "received": now_us(), "digest": digest, "key_id": key_id, "json": data.decode("utf-8"),
    }


def _chunks(objects: Iterable[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for obj in objects:
        chunk.append(obj)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@contextmanager
def _checker(origin: str, at_us: int | None, workers: int, trust: TrustStore):
    """Yields a function over chunks of objects: with workers, it maps them to chunks
    of Checked, in order; without, it passes them on to be checked while storing."""
    if not workers:
        yield lambda chunks: chunks
        return
    context = multiprocessing.get_context("spawn")  # no fork with open SQLite handles
    with context.Pool(workers, initializer=_worker_init, initargs=(trust.snapshot(), origin, at_us)) as pool:
        def in_pool(chunks):
            # Pool.imap would read the whole input ahead; keep a few chunks in flight
            # so memory stays flat however large the file.
            in_flight: deque = deque()
            for chunk in chunks:
                in_flight.append(pool.apply_async(_worker_check, (chunk,)))
                if len(in_flight) > 2 * workers:
                    yield in_flight.popleft().get()
            while in_flight:
                yield in_flight.popleft().get()
        yield in_pool


_worker_state: dict = {}


def _worker_init(snapshot, origin, at_us) -> None:
    _worker_state.update(keys=keys_from_snapshot(snapshot), origin=origin, at_us=at_us)


def _worker_check(chunk: list[dict]) -> list[Checked]:
    return [check(obj, _worker_state["origin"], _worker_state["keys"], _worker_state["at_us"]) for obj in chunk]
