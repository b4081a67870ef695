"""Where an incident comes from: who signed it, with which key, does it verify now,
and how and when it reached this node."""
from __future__ import annotations

from dataclasses import dataclass

from ..home import Node
from ..i18n import N_, gettext
from ..signing import signature_of
from ..verify import EXTERNAL, check

ARRIVALS = {
    "own": N_("recorded at this node"),
    "peer": N_("received from partner node %(source)s"),
    "import": N_("imported from a file"),
    "external": N_("received from unsigned source %(source)s"),
}


@dataclass
class Provenance:
    signer_id: str | None
    signer_name: str | None
    signer_country: str | None
    is_this_node: bool
    key_id: str | None
    verified: bool
    verification: str
    arrival: str
    source: str | None
    received_us: int
    versions: int


def _verify(node: Node, obj: dict, origin: str, received_us: int | None = None) -> tuple[bool, str]:
    """Does the stored object verify now, by the rules ingest applied when it came?
    A key revoked since it was received still vouches for it (signing.md: revocation)."""
    item = check(obj, origin, node.trust.keys(), received_us)
    if item.outcome is not None:
        return False, item.outcome.reason
    if item.key_id is None:  # step 3 let it through unsigned: an unsigned source or an SCO
        return False, gettext("not signed: stored from an unsigned source") if origin == EXTERNAL \
            else gettext("not signed")
    return True, gettext("signature verifies now with pinned key %(key)s", key=item.key_id)


def provenance_of(node: Node, obj: dict, stored: dict) -> Provenance:
    card = node.store.one("SELECT name, country FROM cards WHERE identity = ?", [stored["created_by"] or ""])
    verified, verification = _verify(node, obj, stored["origin"], stored["received"])
    versions = node.store.one("SELECT COUNT(*) AS n FROM objects WHERE id = ?", [obj["id"]])["n"]
    return Provenance(
        signer_id=stored["created_by"], signer_name=card["name"] if card else None,
        signer_country=card["country"] if card else None,
        is_this_node=stored["created_by"] == node.config.identity,
        key_id=stored["key_id"] or (signature_of(obj) or {}).get("key_id"),
        verified=verified, verification=verification,
        arrival=gettext(ARRIVALS[stored["origin"]], source=stored["source"] or "?") if stored["origin"] in ARRIVALS
        else stored["origin"],
        source=stored["source"], received_us=stored["received"], versions=versions,
    )
