"""Sharing policy: TLP order, which feeds an object may enter, what may be relayed.

Stated for partners in docs/sharing-policy.md. Everything that decides whether an
object leaves the node asks this module.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .wellknown import NODE_KEYS_EXT, TLP_OF_MARKING

TLP_ORDER = ("clear", "green", "amber", "amber+strict", "red")
TLP_RANK = {level: rank for rank, level in enumerate(TLP_ORDER)}
NEVER_SHARED = frozenset({"amber+strict", "red"})
RELAYABLE = frozenset({"clear", "green"})
# The most restricted level any feed can carry, whatever its file says.
FEED_CEILING = "amber"
# Objects that carry no TLP marking are treated as this, unless public by nature.
UNMARKED_TLP = "amber"
PUBLIC_BY_NATURE = frozenset({"marking-definition", "extension-definition"})
# Feed profiles (a feed file's `profile:`): what a feed carries beyond strict STIX 2.1
# for one kind of subscriber. `opencti`: OpenCTI's own object types (its FIMI model's
# narrative and channel), the relationships that involve them, and the DISARM objects
# the node's incidents relate to (docs/data-model.md, "Feeds for OpenCTI").
OPENCTI = "opencti"
FEED_PROFILES = (OPENCTI,)
OPENCTI_TYPES = frozenset({"narrative", "channel"})


def tlp_of(obj: dict) -> str:
    """The most restrictive TLP 2.0 level among the object's markings."""
    refs = obj.get("object_marking_refs")
    refs = refs if isinstance(refs, list) else ()
    levels = [TLP_OF_MARKING[m] for m in refs if isinstance(m, str) and m in TLP_OF_MARKING]
    if levels:
        return max(levels, key=TLP_RANK.__getitem__)
    if obj.get("type") in PUBLIC_BY_NATURE or is_node_card(obj):
        return "clear"
    return UNMARKED_TLP


def profile_of(obj: dict) -> str | None:
    """The one feed profile an object is for, or None: for every feed."""
    ends = (obj.get("source_ref"), obj.get("target_ref")) if obj.get("type") == "relationship" else ()
    types = {obj.get("type"), *(ref.split("--", 1)[0] for ref in ends if isinstance(ref, str))}
    return OPENCTI if types & OPENCTI_TYPES else None


def fits_profile(feed_profile: str | None, object_profile: str | None) -> bool:
    return object_profile is None or object_profile == feed_profile


def is_node_card(obj: dict) -> bool:
    extensions = obj.get("extensions")
    return obj.get("type") == "identity" and isinstance(extensions, dict) and NODE_KEYS_EXT in extensions


def effective_ceiling(max_tlp: str) -> str:
    """A feed's real ceiling: its max_tlp, but never above amber."""
    return min(max_tlp, FEED_CEILING, key=TLP_RANK.__getitem__)


def may_carry(feed_max_tlp: str, tlp: str) -> bool:
    if tlp in NEVER_SHARED:
        return False
    return TLP_RANK[tlp] <= TLP_RANK[effective_ceiling(feed_max_tlp)]


@dataclass(frozen=True)
class FeedRule:
    """What policy needs to know of a feed."""

    name: str
    max_tlp: str
    writers: frozenset[str]
    readers: frozenset[str] = frozenset()
    profile: str | None = None


def feeds_for_own(tlp: str, feeds: Iterable[FeedRule], share: Iterable[str] | None = None,
                  profile: str | None = None) -> list[str]:
    """Feeds an object this node created goes into: those named in `share` (all, if
    None) that may carry its TLP and, for an object of a profile, have that profile."""
    wanted = None if share is None else set(share)
    return [f.name for f in feeds if (wanted is None or f.name in wanted) and may_carry(f.max_tlp, tlp)
            and fits_profile(f.profile, profile)]


def feeds_for_relay(tlp: str, source_peer: str, feeds: Iterable[FeedRule], profile: str | None = None) -> list[str]:
    """Feeds an object received from peer `source_peer` goes into: those that name the
    peer among their writers and whose ceiling fits the object's TLP; for anything
    above green, only those the peer alone reads. So a writer reads back what it wrote,
    and amber goes back to its author only: relay to third parties stays green/clear."""
    return [
        f.name
        for f in feeds
        if source_peer in f.writers and may_carry(f.max_tlp, tlp) and fits_profile(f.profile, profile)
        and (tlp in RELAYABLE or f.readers == frozenset({source_peer}))
    ]


def feeds_for_reaction(tlp: str, incident_feeds: Iterable[str], author_peers: Iterable[str],
                       feeds: Iterable[FeedRule], own_incident: bool) -> list[str]:
    """Feeds this node's sighting, opinion or response about an incident goes into
    (node/reactions.py), given the feeds
    that carry its incident here: the response follows the incident. To an own incident,
    exactly those feeds. To a partner's, those too (where relay put a partner's incident,
    its TLP allows its readers), and always back to the incident's author: the feeds an
    author peer reads, and, unless the TLP is green or clear, only those it alone reads,
    as for relay. The caller's TLP is the incident's; feeds_for_own still checks each
    ceiling."""
    here = set(incident_feeds)
    if own_incident:
        return sorted(here)
    authors = frozenset(author_peers)
    back = {f.name for f in feeds if f.readers & authors and (tlp in RELAYABLE or f.readers <= authors)}
    return sorted(here | back)


def may_push(peer: str, peer_identity: str | None, creator: str | None, sent_by: Iterable[str]) -> bool:
    """Whether push may send `peer` an object published in a feed the peer reads (the
    caller has checked that, with the feed's current ceiling, as a TAXII read does: so
    push follows the relay rule above and sends nothing the peer could not pull).
    Objects relayed from partners are pushed onward too, so push must never send one
    back: not to a peer that sent it here (`sent_by`: the peer it first came from and
    any that sent it again), nor to the node that created it (`peer_identity`, from the
    peer's card). Each feed entry goes to each peer once, so nothing loops."""
    if peer in sent_by:
        return False
    return peer_identity is None or creator != peer_identity


def withholds_others_variant(is_observable: bool, own_copy_held: bool, own: bool) -> bool:
    """An observable's id derives from its value, so any partner can send a variant of
    one this node created, under the same id with another marking (its red URL marked
    clear). Under such an id this node publishes only its own copy: a variant from
    anyone else is stored, for history and provenance, but enters no feed (and
    store.insert_object never makes it the latest)."""
    return is_observable and own_copy_held and not own


# Verdicts that make an incident a debunk the public may read; "unverified" is an open
# investigation (Incident Core: determination suspected), not a finding to publish.
PUBLIC_VERDICTS = frozenset({"false", "misleading", "manipulated", "fabricated", "satire"})


def is_public_debunk(tlp: str | None, verdict: object, revoked: object) -> bool:
    """The one rule for what the public pages, the Atom feed and the public search show
    (docs/sharing-policy.md, "The public"): an incident at TLP:CLEAR whose current
    version carries a verdict and is not withdrawn (`revoked: true`)."""
    return tlp == "clear" and verdict in PUBLIC_VERDICTS and revoked is not True


# -- alerts (node/alerts/) --------------------------------------------------------------

def account_sees_incident(role: str | None, tlp: str | None) -> bool:
    """Whether a web account sees an incident the node holds: the UI shows analysts and
    admins every incident, at every TLP (docs/security.md). Alerts ask here before they
    notify anyone, so a narrower rule needs changing only here."""
    return role in ("analyst", "admin")


def alert_may_describe(tlp: str | None) -> bool:
    """Whether an alert that leaves the node (e-mail, webhook, apprise) may carry what an
    incident says (title, verdict, source). TLP:AMBER+STRICT and TLP:RED never leave the
    node, so their alerts carry only the event and the link to the incident's page."""
    return tlp not in NEVER_SHARED
