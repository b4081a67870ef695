"""The one ingest path: strict parsing, shape, verification, versions, quarantine, feeds."""
import io
import json

import pytest

from node import wire
from node.errors import InputError
from node.ingest import IMPORT, OWN, PEER, Door
from node.signing import sign
from node.wellknown import TLP_MARKINGS, well_known_objects

from conftest import incident_record, set_feed


def note(node, text="hello", tlp="green", **extra):
    obj = {"type": "note", "spec_version": "2.1", "id": extra.pop("id", "note--0f7e5a39-0d4c-4f6a-9a8e-2f9f4f0e0001"),
           "created": "2026-01-01T00:00:00.000Z", "modified": extra.pop("modified", "2026-01-01T00:00:00.000Z"),
           "created_by_ref": node.config.identity, "content": text, "object_refs": [node.config.identity],
           "object_marking_refs": [TLP_MARKINGS[tlp]], **extra}
    return sign(obj, node.signing_key)


@pytest.fixture
def pinned(kz, uz):
    """KZ trusts UZ, and UZ may write to KZ's regional feed."""
    kz.trust_card(uz.card())
    set_feed(kz.home, "regional", writers=["uz"], readers=["uz"])
    from node.home import Node
    return Node(kz.home), uz


@pytest.mark.parametrize("body, message", [
    (b'{"objects":[{"id":"a","id":"b"}]}', "duplicate key"),
    (b'{"objects":[{"confidence":NaN}]}', "NaN"),
    (b'{"objects":[{"name":"\\ud800"}]}', "lone surrogate"),
    (b'{"objects":[{"name":"\xff"}]}', "UTF-8"),
    (b'{"objects":[{"name":"x"}', "malformed JSON"),
])
def test_strict_parsing_refuses_what_json_allows(body, message):
    with pytest.raises(InputError, match=message):
        list(wire.iter_objects(io.BytesIO(body)))
    with pytest.raises(InputError, match=message):
        wire.loads(body)


def test_a_bundle_is_streamed_across_buffer_boundaries():
    objs = [{"type": "x", "n": i, "text": "ö" * (i % 7)} for i in range(5000)]
    data = json.dumps({"type": "bundle", "id": "bundle--1", "objects": objs}, ensure_ascii=False).encode()
    assert list(wire.iter_objects(io.BytesIO(data), chunk=777)) == objs


def test_objects_from_a_trusted_peer_are_accepted_and_relayed_to_feeds_naming_it(pinned):
    kz, uz = pinned
    summary = kz.ingest.run([note(uz)], Door(PEER, source="uz"))
    assert summary.counts["accepted"] == 1
    regional = kz.config.feed("regional").id
    assert kz.store.one("SELECT COUNT(*) AS n FROM feed_entries WHERE feed = ? AND type = 'note'", [regional])["n"] == 1
    bilateral = kz.config.feed("bilateral").id  # uz is not among its writers
    assert kz.store.one(
        "SELECT COUNT(*) AS n FROM feed_entries WHERE feed = ? AND type = 'note'", [bilateral])["n"] == 0


def test_amber_from_a_peer_goes_back_to_it_only_in_a_feed_it_alone_reads(kz, uz):
    kz.trust_card(uz.card())
    set_feed(kz.home, "bilateral", writers=["uz"], readers=["uz"])
    set_feed(kz.home, "regional", max_tlp="amber", writers=["uz"], readers=["uz", "az"])
    from node.home import Node
    kz = Node(kz.home)
    kz.ingest.run([note(uz, tlp="amber")], Door(PEER, source="uz"))
    assert kz.store.one("SELECT tlp FROM objects WHERE type = 'note'")["tlp"] == "amber"
    note_id = "note--0f7e5a39-0d4c-4f6a-9a8e-2f9f4f0e0001"
    assert kz.store.feeds_of(note_id) == [kz.config.feed("bilateral").id]


def test_green_from_a_peer_enters_every_feed_it_writes_whatever_the_readers(kz, uz):
    kz.trust_card(uz.card())
    set_feed(kz.home, "bilateral", writers=["uz"], readers=["uz"])
    set_feed(kz.home, "regional", writers=["uz"], readers=["uz", "az"])
    from node.home import Node
    kz = Node(kz.home)
    kz.ingest.run([note(uz, tlp="green")], Door(PEER, source="uz"))
    note_id = "note--0f7e5a39-0d4c-4f6a-9a8e-2f9f4f0e0001"
    assert sorted(kz.store.feeds_of(note_id)) == sorted([kz.config.feed("bilateral").id, kz.config.feed("regional").id])


def test_the_same_version_twice_is_a_harmless_duplicate(pinned):
    kz, uz = pinned
    obj = note(uz)
    kz.ingest.run([obj], Door(PEER, source="uz"))
    summary = kz.ingest.run([obj], Door(PEER, source="uz"))
    assert summary.counts == {"accepted": 0, "duplicate": 1, "quarantined": 0, "rejected": 0}


def test_different_content_under_a_held_version_is_equivocation_and_audited(pinned):
    kz, uz = pinned
    kz.ingest.run([note(uz, "first")], Door(PEER, source="uz"))
    summary = kz.ingest.run([note(uz, "second")], Door(PEER, source="uz"))
    assert summary.counts["rejected"] == 1 and "equivocation" in summary.failures[0].reason
    assert kz.store.one("SELECT COUNT(*) AS n FROM audit WHERE event = 'rejected'")["n"] == 1
    assert json.loads(kz.store.object_json("note--0f7e5a39-0d4c-4f6a-9a8e-2f9f4f0e0001"))["content"] == "first"


def test_only_the_creator_may_version_an_object(pinned):
    kz, uz = pinned
    kz.ingest.run([note(uz)], Door(PEER, source="uz"))
    hijack = note(kz, "hijacked", modified="2026-02-01T00:00:00.000Z")
    summary = kz.ingest.run([hijack], Door(OWN))
    assert summary.counts["rejected"] == 1 and "creator" in summary.failures[0].reason


def test_a_late_older_version_is_kept_as_history(pinned):
    kz, uz = pinned
    new = note(uz, "v2", modified="2026-03-01T00:00:00.000Z")
    old = note(uz, "v1", modified="2026-02-01T00:00:00.000Z")
    kz.ingest.run([new], Door(PEER, source="uz"))
    summary = kz.ingest.run([old], Door(PEER, source="uz"))
    assert summary.counts["accepted"] == 1
    versions = kz.store.versions_of(new["id"])
    assert [v["latest"] for v in versions] == [0, 1]
    assert json.loads(kz.store.object_json(new["id"]))["content"] == "v2"


def test_tampered_objects_are_rejected_and_the_rest_of_the_batch_is_stored(pinned):
    kz, uz = pinned
    bad = note(uz, id="note--0f7e5a39-0d4c-4f6a-9a8e-2f9f4f0e0002")
    bad["content"] = "changed on the way"
    good = note(uz)
    summary = kz.ingest.run([bad, good], Door(PEER, source="uz"))
    assert summary.counts["rejected"] == 1 and summary.counts["accepted"] == 1
    assert "does not verify" in summary.failures[0].reason


def test_signer_must_equal_created_by_ref(pinned):
    kz, uz = pinned
    obj = note(uz)
    obj["created_by_ref"] = kz.config.identity
    summary = kz.ingest.run([obj], Door(PEER, source="uz"))
    assert "signer differs" in summary.failures[0].reason


def test_an_sco_whose_id_does_not_match_its_value_is_rejected(kz):
    url = {"type": "url", "spec_version": "2.1", "id": "url--00000000-0000-5000-8000-000000000000",
           "value": "https://example.org/"}
    summary = kz.ingest.run([url], Door(IMPORT))
    assert "SCO id" in summary.failures[0].reason


def test_well_known_objects_are_accepted_only_when_identical(kz):
    marking = dict(well_known_objects()[0])
    assert kz.ingest.run([marking], Door(IMPORT)).counts["duplicate"] == 1
    marking["name"] = "TLP:WHITE"
    assert kz.ingest.run([marking], Door(IMPORT)).counts["rejected"] == 1


@pytest.mark.parametrize("change, reason", [
    ({"spec_version": "2.0"}, "spec_version"),
    ({"id": "note--not-a-uuid"}, "valid id"),
    ({"id": "report--0f7e5a39-0d4c-4f6a-9a8e-2f9f4f0e0001"}, "valid id"),
    ({"created": "yesterday"}, "timestamp"),
])
def test_malformed_objects_are_rejected_by_shape(kz, change, reason):
    obj = dict(note(kz), **change)
    summary = kz.ingest.run([obj], Door(IMPORT))
    assert reason in summary.failures[0].reason


def test_unknown_signers_are_quarantined_then_released_when_their_card_is_pinned(kz, uz):
    obj = note(uz)
    summary = kz.ingest.run([obj], Door(IMPORT))
    assert summary.counts["quarantined"] == 1
    assert kz.store.object_json(obj["id"]) is None
    assert kz.store.one("SELECT COUNT(*) AS n FROM quarantine")["n"] == 1
    _, released = kz.trust_card(uz.card())
    assert released.counts["accepted"] == 1
    assert kz.store.object_json(obj["id"]) is not None
    assert kz.store.one("SELECT COUNT(*) AS n FROM quarantine")["n"] == 0


def test_red_and_amber_strict_own_objects_enter_no_feed(kz):
    for tlp in ("red", "amber+strict"):
        kz.add_incident(incident_record(tlp=tlp))
    assert kz.store.one("SELECT COUNT(*) AS n FROM feed_entries WHERE tlp IN ('red', 'amber+strict')")["n"] == 0


def test_own_objects_enter_the_feeds_their_tlp_and_share_allow(kz):
    result = kz.add_incident(incident_record(tlp="green", share=["regional"]))
    feeds = {kz.config.feed(f).name for f in kz.store.feeds_of(result.incident_id)}
    assert feeds == {"regional"}
    result = kz.add_incident(incident_record(tlp="amber"))
    feeds = {kz.config.feed(f).name for f in kz.store.feeds_of(result.incident_id)}
    assert feeds == {"bilateral"}


def test_date_added_is_strictly_increasing_within_a_feed(kz):
    for i in range(5):
        kz.add_incident(incident_record(tlp="clear", title=f"incident {i}"))
    public = kz.config.feed("public").id
    stamps = [r["date_added"] for r in kz.store.query(
        "SELECT date_added FROM feed_entries WHERE feed = ? ORDER BY seq", [public])]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_a_feed_file_that_claims_red_still_carries_at_most_amber(kz):
    set_feed(kz.home, "bilateral", max_tlp="red")
    from node.home import Node
    node = Node(kz.home)
    node.add_incident(incident_record(tlp="red"))
    assert node.store.one("SELECT COUNT(*) AS n FROM feed_entries WHERE tlp = 'red'")["n"] == 0


def test_verification_workers_give_the_same_outcomes_as_one_process(pinned, make_home):
    kz, uz = pinned
    from node.home import Node
    stranger = Node(make_home("tm", "TM"))
    objects = [note(uz, f"n{i}", id=f"note--0f7e5a39-0d4c-4f6a-9a8e-{i:012d}") for i in range(40)]
    objects[3]["content"] = "tampered"
    objects.append(note(stranger, id="note--0f7e5a39-0d4c-4f6a-9a8e-999999999999"))
    summary = kz.ingest.run(objects + objects[:5], Door(PEER, source="uz"), batch=7, workers=2)
    assert summary.counts == {"accepted": 39, "duplicate": 4, "quarantined": 1, "rejected": 2}
    assert {o.id for o in summary.failures} == {objects[3]["id"]}


def test_an_unsigned_source_cannot_speak_for_this_node_or_a_trusted_one(pinned):
    kz, uz = pinned
    forged_card = dict(kz.card(), modified="2030-01-01T00:00:00.000Z", name="forged")
    forged_card.pop("extensions")
    forged_note = {k: v for k, v in note(uz, id="note--0f7e5a39-0d4c-4f6a-9a8e-2f9f4f0e0003").items()
                   if k != "extensions"}
    summary = kz.ingest.run([forged_card, forged_note], Door("external", source="med"))
    assert summary.counts["rejected"] == 2
    assert all("unsigned object claims" in o.reason for o in summary.failures)
    assert kz.card()["name"] == "kz"


def test_a_signed_object_from_an_unsigned_source_is_still_verified(pinned):
    kz, uz = pinned
    tampered = note(uz, id="note--0f7e5a39-0d4c-4f6a-9a8e-2f9f4f0e0004")
    tampered["content"] = "changed"
    summary = kz.ingest.run([tampered], Door("external", source="med"))
    assert summary.counts["rejected"] == 1 and "does not verify" in summary.failures[0].reason


def test_a_trusted_nodes_malformed_card_is_rejected_and_the_rest_is_stored(pinned):
    kz, uz = pinned
    from node.incident import stix_now
    from node.wellknown import NODE_KEYS_EXT
    card = {k: v for k, v in uz.card().items() if k != "extensions"}
    card["modified"] = stix_now()
    bad_ext = dict(uz.card()["extensions"][NODE_KEYS_EXT], country="uz")
    card["extensions"] = {NODE_KEYS_EXT: bad_ext}
    summary = kz.ingest.run([sign(card, uz.signing_key), note(uz)], Door(PEER, source="uz"))
    assert summary.counts == {"accepted": 1, "duplicate": 0, "quarantined": 0, "rejected": 1}
    assert "node-keys" in summary.failures[0].reason


def test_a_partner_object_first_imported_plainly_is_relayed_when_it_comes_from_the_partner(pinned):
    kz, uz = pinned
    obj = note(uz)
    kz.ingest.run([obj], Door(IMPORT))
    regional = kz.config.feed("regional").id
    count = "SELECT COUNT(*) AS n FROM feed_entries WHERE feed = ? AND type = 'note'"
    assert kz.store.one(count, [regional])["n"] == 0
    assert kz.ingest.run([obj], Door(PEER, source="uz")).counts["duplicate"] == 1
    assert kz.store.one(count, [regional])["n"] == 1


@pytest.mark.parametrize("extensions", [5, "node-keys", [None]])
def test_verify_file_and_import_agree_on_an_identity_whose_extensions_are_not_an_object(kz, tmp_path, extensions):
    # `verify FILE` had its own copy of the checks and crashed (TypeError) on these
    # while import rejected them: both now run verify.check.
    identity = {"type": "identity", "spec_version": "2.1", "id": "identity--0f7e5a39-0d4c-4f6a-9a8e-2f9f4f0e0009",
                "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
                "name": "odd", "extensions": extensions}
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": [identity]}))
    failures = kz.verify_stream(lambda: path.open("rb"))
    with path.open("rb") as stream:
        summary = kz.import_stream(stream)
    assert summary.counts["rejected"] == 1
    assert failures == [(identity["id"], summary.failures[0].reason)]
    assert "not signed" in failures[0][1]


def report(node, **extra) -> dict:
    obj = {"type": "report", "spec_version": "2.1", "id": "report--0f7e5a39-0d4c-4f6a-9a8e-2f9f4f0e0002",
           "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
           "published": "2026-01-01T00:00:00.000Z", "name": "refs", "created_by_ref": node.config.identity,
           "object_marking_refs": [TLP_MARKINGS["green"]], **extra}
    return sign(obj, node.signing_key)


@pytest.mark.parametrize("refs", [None, 5, "note--0f7e5a39-0d4c-4f6a-9a8e-2f9f4f0e0001", {"a": 1}, [], [5],
                                  ["note--0f7e5a39-0d4c-4f6a-9a8e-2f9f4f0e0001", "not-an-id"], "absent"])
def test_a_report_whose_object_refs_is_not_a_non_empty_list_of_ids_is_rejected_by_shape(pinned, refs):
    kz, uz = pinned
    bad = report(uz, **({} if refs == "absent" else {"object_refs": refs}))
    good = note(uz)
    summary = kz.ingest.run([bad, good], Door(PEER, source="uz"))
    assert [f.reason for f in summary.failures] == [
        f"{bad['id']}: 'object_refs' must be a non-empty list of STIX ids"]
    assert kz.store.object_json(bad["id"]) is None and kz.store.object_json(good["id"]) is not None


def test_a_report_whose_object_refs_are_ids_passes_the_shape_check(pinned):
    kz, uz = pinned
    summary = kz.ingest.run([report(uz, object_refs=[uz.config.identity])], Door(PEER, source="uz"))
    assert summary.failures == []
