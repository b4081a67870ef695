"""Who will see an incident, in plain words, for each TLP level and feed choice.

Feed files and policy.py decide; this module only describes their decision."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import Feed
from ..i18n import gettext
from ..policy import NEVER_SHARED, RELAYABLE, TLP_ORDER, effective_ceiling, may_carry


@dataclass
class Reach:
    tlp: str
    feeds: list[Feed]
    sentence: str


def readers_in_words(feed: Feed) -> str:
    if feed.is_public:
        return gettext("anyone, without an account")
    if feed.readers:
        return gettext("partner nodes %(peers)s", peers=", ".join(feed.readers))
    return gettext("no partner yet (no readers in its feed file)")


def feed_in_words(feed: Feed) -> str:
    return gettext("carries up to %(tlp)s; read by %(readers)s", tlp="TLP:" + effective_ceiling(feed.max_tlp).upper(),
                   readers=readers_in_words(feed))


def reach_of(tlp: str, feeds: dict[str, Feed]) -> Reach:
    if tlp in NEVER_SHARED:
        return Reach(tlp, [], gettext("Never leaves this node: only this node's analysts see it, whatever is "
                                      "ticked under Share."))
    carrying = [f for f in feeds.values() if may_carry(f.max_tlp, tlp)]
    if not carrying:
        return Reach(tlp, [], gettext("No feed carries this level: only this node's analysts see it."))
    parts = [f"{f.title} ({readers_in_words(f)})" for f in carrying]
    sentence = gettext("If ticked under Share, published in: %(feeds)s.", feeds="; ".join(parts))
    if tlp in RELAYABLE:
        sentence += " " + gettext("Partners may pass %(tlp)s incidents on to their own partners.",
                                  tlp="TLP:" + tlp.upper())
    return Reach(tlp, carrying, sentence)


def reach_table(feeds: dict[str, Feed]) -> list[Reach]:
    return [reach_of(tlp, feeds) for tlp in TLP_ORDER]
