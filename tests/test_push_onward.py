"""What push sends onward (node/sync/push.py, policy.may_push), on a real node's store:
partners' objects go to the peers that may read them in a feed, never back to a peer
that sent them nor to their creator, and never above what the relay rule published."""
import json

import pytest

from node.home import Node
from node.ingest import OWN, Door
from node.sync.push import pending

from nodes import edit_config, edit_feed, make_home, signed_notes


@pytest.fixture
def region(tmp_path):
    """KZ with two partners: UZ (bilateral and regional) and AZ (regional). Returns
    (kz, uz, az) nodes; KZ has pinned both partners' cards by `peer add`."""
    homes = {name: make_home(tmp_path, name, cc) for name, cc in (("kz", "KZ"), ("uz", "UZ"), ("az", "AZ"))}
    edit_feed(homes["kz"], "bilateral", readers=["uz"], writers=["uz"])
    edit_feed(homes["kz"], "regional", readers=["uz", "az"], writers=["uz", "az"])
    kz, uz, az = (Node(homes[name]) for name in ("kz", "uz", "az"))
    for name, partner in (("uz", uz), ("az", az)):
        kz.add_peer(name, partner.card(), f"http://127.0.0.1:9/{name}/taxii2/", token="t", push=["regional"])
    return kz, uz, az


def receive(kz: Node, sender: str, objects: list[dict]) -> dict:
    """Objects arrive at KZ from peer `sender` (as its POST or KZ's pull would bring them)."""
    return kz.ingest.run(objects, Door.for_peer(sender, kz.config.peers[sender])).counts


def pending_ids(node: Node, peer: str) -> set[str]:
    texts, _ = pending(node, peer)
    return {json.loads(text)["id"] for text in texts if '"type":"note"' in text}


def ids(objects: list[dict]) -> set[str]:
    return {o["id"] for o in objects}


def test_a_partners_green_object_goes_on_to_the_other_reader_and_not_back_to_its_sender(region):
    kz, uz, az = region
    from_uz = signed_notes(uz, 2, "green", content="uz green")
    assert receive(kz, "uz", from_uz)["accepted"] == 2
    assert pending_ids(kz, "az") == ids(from_uz)
    assert pending_ids(kz, "uz") == set()


def test_an_object_created_by_a_peer_is_never_pushed_to_it_even_when_another_peer_relayed_it(region):
    kz, uz, az = region
    by_az_via_uz = signed_notes(az, 1, "green", content="az green relayed by uz")
    assert receive(kz, "uz", by_az_via_uz)["accepted"] == 1
    assert pending_ids(kz, "az") == set()  # its creator
    assert pending_ids(kz, "uz") == set()  # its sender


def test_a_peer_that_sent_a_copy_of_an_object_already_held_is_not_sent_it(region):
    kz, uz, az = region
    echoed, only_from_uz = signed_notes(uz, 1, "green", content="echoed"), signed_notes(uz, 1, "green")
    receive(kz, "uz", echoed + only_from_uz)
    assert receive(kz, "az", echoed)["duplicate"] == 1  # AZ had it from UZ too
    assert pending_ids(kz, "az") == ids(only_from_uz)
    assert kz.store.query("SELECT peer FROM peer_copies") == [{"peer": "az"}]


def test_amber_from_a_partner_is_pushed_to_no_one_red_never_enters_a_feed(region):
    kz, uz, az = region
    amber, red = signed_notes(uz, 1, "amber"), signed_notes(uz, 1, "red")
    receive(kz, "uz", amber + red)
    # The relay rule put amber only in the feed UZ alone reads (bilateral); red in none.
    assert {r["feed"] for r in kz.store.query("SELECT feed FROM feed_entries WHERE id = ?", [amber[0]["id"]])} == \
        {kz.config.feed("bilateral").id}
    assert pending_ids(kz, "az") == set() and pending_ids(kz, "uz") == set()


def test_a_lowered_ceiling_holds_back_relayed_entries_published_under_the_old_one(region):
    kz, uz, az = region
    green = signed_notes(uz, 1, "green")
    receive(kz, "uz", green)
    edit_feed(kz.home, "regional", max_tlp="clear")
    assert kz.reload_config_if_changed(min_interval=0)
    assert pending_ids(kz, "az") == set()


def test_with_push_relayed_false_only_own_objects_are_pushed(region):
    kz, uz, az = region
    from_uz = signed_notes(uz, 1, "green")
    receive(kz, "uz", from_uz)
    own = signed_notes(kz, 1, "green", content="own")
    assert kz.ingest.run(own, Door(OWN)).counts["accepted"] == 1
    assert pending_ids(kz, "az") == ids(from_uz) | ids(own)
    edit_config(kz.home, "sync.push_relayed", False)
    assert kz.reload_config_if_changed(min_interval=0)
    assert pending_ids(kz, "az") == ids(own)


def test_relayed_objects_are_pushed_as_their_stored_canonical_bytes(region):
    kz, uz, az = region
    from_uz = signed_notes(uz, 1, "green")
    receive(kz, "uz", from_uz)
    texts, _ = pending(kz, "az")
    [text] = [t for t in texts if from_uz[0]["id"] in t]
    assert text == kz.store.object_json(from_uz[0]["id"])
