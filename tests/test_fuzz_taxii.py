"""Property-based fuzzing of every TAXII endpoint (hypothesis, in-process test client).

Whatever the path, method, headers, query and body: never a 5xx; every answer carries the
TAXII media type and is a TAXII error or a well-formed resource; no answer names an object
(or repeats words) the caller may not read; and a POST stores nothing the sharing policy
forbids. Bounded by fuzz_fixtures.FUZZ (derandomized) so it costs a few seconds in CI.
"""
from __future__ import annotations

import contextlib
import json
from urllib.parse import quote, urlencode

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from fuzz_fixtures import CALLERS, FUZZ, FuzzWorld, feed_policy_violations
from node.app import create_app
from node.errors import InputError
from nodes import TAXII, signed_notes
from node.signing import SIGNATURE_EXT, sign
from node.wellknown import TLP_MARKINGS
from taxii_fixtures import store_fingerprint

ENDPOINTS = ("", "api/", "api/collections/", "api/collections/{c}/", "api/collections/{c}/manifest/",
             "api/collections/{c}/objects/", "api/collections/{c}/objects/{o}/",
             "api/collections/{c}/objects/{o}/versions/", "api/status/{s}/", "{junk}")
METHODS = ("GET",) * 8 + ("HEAD", "POST", "POST", "DELETE", "PUT", "OPTIONS")
FILTER_KEYS = ("match[id]", "match[type]", "match[version]", "match[spec_version]", "added_after", "limit",
               "next")
TIMESTAMPS = ("2026-11-01T00:00:00.000Z", "2026-11-01T00:00:00Z", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
              "2026-13-45T25:61:61Z", "first", "last", "all")
# Query bytes urlencode would never produce: invalid UTF-8 and percent signs left bare.
RAW_QUERY_TAILS = ("",) * 6 + ("&match[id]=%FF", "&%FF%FE=1", "&limit=%00", "&next=%C0%80", "&added_after=%ZZ",
                                "&match[type]=%", "&&&=&=", "&limit=1&limit=2", "&match[version]=first,last,all")
ACCEPTS = (TAXII, "application/taxii+json", "*/*", "application/json", "text/html", "", None,
           "application/taxii+json;version=2.0", "application/taxii+json;version=2.1;q=0")

text = st.text(max_size=60)
junk_text = st.one_of(text, st.sampled_from(["..", "%00", "\x00", "a" * 5000, "-1", "1e99", "9" * 40, "[]", "{}"]))


@pytest.fixture(scope="module")
def taxii(fuzz_world):
    app = create_app(fuzz_world.home, test_config={"CONFIG_MIN_INTERVAL": 3600.0})
    client = app.test_client()
    _collect_tokens_and_statuses(fuzz_world, client)
    return client


def _collect_tokens_and_statuses(world: FuzzWorld, client) -> None:
    """Real `next` tokens and POST status ids, each issued to one caller, for the fuzzer
    to replay as any caller."""
    world.next_tokens, world.status_owner = [], {}
    for caller, feed in (("uz", "bilateral"), ("uz", "regional"), ("tm", "regional"), (None, "public")):
        for endpoint in ("objects/", "manifest/"):
            response = client.get(f"/taxii2/api/collections/{world.world.feeds[feed]}/{endpoint}?limit=1",
                                  headers={"Accept": TAXII, **world.headers(caller)})
            world.next_tokens.append(response.get_json()["next"])
    for caller, feed in (("uz", "bilateral"), ("tm", "bilateral")):
        note = signed_notes(world.world.partners[caller], 1)[0]
        response = client.post(f"/taxii2/api/collections/{world.world.feeds[feed]}/objects/",
                               data=json.dumps({"objects": [note]}),
                               headers={"Accept": TAXII, "Content-Type": TAXII, **world.headers(caller)})
        assert response.status_code == 202
        world.status_owner[response.get_json()["id"]] = caller
        world.record_post(caller, response)


def known_ids(world: FuzzWorld) -> list[str]:
    return sorted(set().union(*world.created.values()))


@st.composite
def object_ids(draw, world: FuzzWorld):
    return draw(st.one_of(st.sampled_from(known_ids(world)), junk_text,
                          st.sampled_from(["incident--" + "0" * 8 + "-0000-4000-8000-" + "0" * 12])))


@st.composite
def queries(draw, world: FuzzWorld):
    types = ["incident", "report", "location", "threat-actor", "url", "identity", "note", "relationship"]
    values = st.one_of(st.sampled_from(TIMESTAMPS), st.sampled_from(types), object_ids(world),
                       st.sampled_from(world.next_tokens),
                       st.lists(st.sampled_from(known_ids(world) + types), max_size=4).map(",".join),
                       st.integers(-10, 10 ** 30).map(str), junk_text)
    return draw(st.lists(st.tuples(st.one_of(st.sampled_from(FILTER_KEYS), text), values), max_size=5))


json_values = st.recursive(st.none() | st.booleans() | st.integers() |
                           st.floats(allow_nan=False, allow_infinity=False) | text,
                           lambda kids: st.lists(kids, max_size=4) | st.dictionaries(text, kids, max_size=4),
                           max_leaves=20)


@st.composite
def posted_objects(draw, world: FuzzWorld, caller: str | None):
    """Arbitrary JSON, or objects close to valid: a signed note of the caller's node (or
    another's) with a field changed, re-signed or not."""
    kind = draw(st.sampled_from(["json", "object", "note", "partner"]))
    if kind == "json":
        return draw(json_values)
    if kind == "partner":
        return draw(partner_versions(world))
    if kind == "object":
        return draw(st.dictionaries(st.sampled_from(["type", "id", "spec_version", "created", "modified",
                                                     "object_marking_refs", "created_by_ref", "value"]) | text,
                                    json_values, max_size=8))
    signer = world.world.partners[draw(st.sampled_from(sorted(world.world.partners)))]
    tlp = draw(st.sampled_from(sorted(TLP_MARKINGS)))
    note = signed_notes(signer, 1, tlp=tlp, ids=[draw(st.sampled_from(
        [f"note--{i:08x}-0000-4000-8000-000000000000" for i in range(4)] + known_ids(world)))])[0]
    if draw(st.booleans()):
        key = draw(st.sampled_from(["content", "object_marking_refs", "created_by_ref", "modified", "type", "id"]))
        note[key] = draw(json_values)
        if draw(st.booleans()):
            (note.get("extensions") or {}).pop(SIGNATURE_EXT, None)
            with contextlib.suppress(InputError):  # a value that cannot be canonicalised stays unsigned
                note = sign(note, signer.signing_key)
    return note


@st.composite
def partner_versions(draw, world: FuzzWorld):
    """A new version of one of uz's signed objects (incident, report, relationship…) with
    a property set to anything, signed again by uz: what a compromised partner can send."""
    uz = world.world.partners["uz"]
    candidates = sorted(oid for oid in world.created["uz"] if uz.store.object_json(oid)
                        and json.loads(uz.store.object_json(oid)).get("created_by_ref") == uz.config.identity)
    obj = json.loads(uz.store.object_json(draw(st.sampled_from(candidates))))
    key = draw(st.sampled_from(sorted(set(obj) - {"id", "type", "spec_version", "created_by_ref"}) + ["x_extra"]))
    obj[key] = draw(json_values)
    obj["modified"] = f"2027-{draw(st.integers(1, 12)):02d}-01T00:00:{draw(st.integers(0, 59)):02d}.000Z"
    (obj.get("extensions") if isinstance(obj.get("extensions"), dict) else {}).pop(SIGNATURE_EXT, None)
    with contextlib.suppress(InputError, TypeError, AttributeError):
        obj = sign(obj, uz.signing_key)
    return obj


@st.composite
def requests_(draw, world: FuzzWorld):
    caller = draw(st.sampled_from(CALLERS + ("bogus",)))
    method = draw(st.sampled_from(METHODS))
    template = draw(st.sampled_from(ENDPOINTS))
    feed_ids = sorted(world.world.feeds.values())
    collection = draw(st.one_of(st.sampled_from(feed_ids), junk_text))
    path = "/taxii2/" + template.format(c=quote(collection, safe=""), o=quote(draw(object_ids(world)), safe=""),
                                        s=quote(draw(st.one_of(st.sampled_from(sorted(world.status_owner)),
                                                               junk_text)), safe=""),
                                        junk=quote(draw(junk_text), safe="/"))
    query = urlencode(draw(queries(world))) + draw(st.sampled_from(RAW_QUERY_TAILS))
    headers = {}
    accept = draw(st.one_of(st.just(TAXII), st.sampled_from(ACCEPTS)))
    if accept is not None:
        headers["Accept"] = accept
    if caller == "bogus":
        headers["Authorization"] = draw(st.sampled_from(["Token nope", "Basic abc", "Token ", "Bearer x",
                                                         "Token " + "A" * 300]))
    elif caller:
        headers.update(world.world.auth(caller))
    body = None
    if method in ("POST", "PUT"):
        headers["Content-Type"] = draw(st.sampled_from([TAXII, "application/json", "text/plain",
                                                         "application/taxii+json;version=2.0"]))
        shape = draw(st.sampled_from(["envelope", "raw", "bytes"]))
        if shape == "envelope":
            objects = draw(st.lists(posted_objects(world, caller if caller != "bogus" else None), max_size=4))
            body = json.dumps({"objects": objects}).encode()
        elif shape == "raw":
            body = json.dumps(draw(json_values)).encode()
        else:
            body = draw(st.binary(max_size=200))
    return caller, method, path + ("?" + query if query else ""), headers, body


def world_statuses(world: FuzzWorld):
    return world.status_owner.items()


def check_resource(method: str, status: int, document) -> None:
    if status >= 400:
        assert isinstance(document, dict) and isinstance(document.get("title"), str), document
        return
    if status == 202:
        assert {"id", "status", "total_count"} <= set(document), document
        return
    assert isinstance(document, dict)
    if "objects" in document or "more" in document:
        assert isinstance(document.get("objects", []), list)
        assert isinstance(document.get("more", False), bool)


@settings(FUZZ, max_examples=FUZZ.max_examples * 3)
@given(data=st.data())
def test_every_taxii_answer_is_taxii_and_reveals_nothing_unreadable(fuzz_world, taxii, data):
    caller, method, url, headers, body = data.draw(requests_(fuzz_world))
    before = store_fingerprint(fuzz_world.home) if method in ("POST", "PUT", "DELETE") else None
    response = taxii.open(url, method=method, headers=headers, data=body)
    fuzz_world.record_post(caller, response)
    asked = url + json.dumps(headers) + (body or b"").decode("utf-8", "replace")

    event(f'HTTP {response.status_code}')

    assert response.status_code < 500, (response.status_code, response.text)
    assert response.headers["Content-Type"] == TAXII
    if method != "HEAD" and response.data:
        check_resource(method, response.status_code, json.loads(response.data))
    reader = None if caller == "bogus" else caller
    hidden = fuzz_world.forbidden(reader)
    if response.status_code < 300 and method != "POST":
        named = {oid for oid in hidden if oid in url.split("?")[0]}
        assert not named, f"{caller} reached {sorted(named)} by {method} {url}"
        if method != "HEAD" and response.data:
            served = {o.get("id") for o in json.loads(response.data).get("objects", []) if isinstance(o, dict)}
            assert not served & hidden, f"{caller} was served {sorted(served & hidden)} by {method} {url}"
    if response.status_code == 200 and "/status/" in url:
        owner = next((who for sid, who in world_statuses(fuzz_world) if sid in url), None)
        assert owner is None or owner == caller, f"{caller} read the status of {owner}'s POST"
    leaked = {oid for oid in hidden if oid in response.text and oid not in asked}
    assert not leaked, f"{caller} was shown {sorted(leaked)} by {method} {url}"
    words = {w for w in fuzz_world.forbidden_words(reader) if w in response.text and w not in asked}
    assert not words, f"{caller} was shown text of {sorted(words)} by {method} {url}"
    if before is not None:
        if response.status_code != 202:
            after = store_fingerprint(fuzz_world.home)
            assert (after["objects"], after["feed_entries"]) == (before["objects"], before["feed_entries"]), \
                f"{method} {url} answered {response.status_code} yet changed the store"
        assert not feed_policy_violations(fuzz_world.home, fuzz_world.posted_by)


@FUZZ
@given(data=st.data())
def test_posted_objects_never_store_what_the_policy_forbids(fuzz_world, taxii, data):
    """POSTs that pass authorisation (a real writer into a feed it may write), with bodies
    from close-to-valid to arbitrary: a 202 or a 4xx, and the feeds keep the policy."""
    caller, feed = data.draw(st.sampled_from([("uz", "bilateral"), ("uz", "regional"), ("tm", "bilateral")]))
    objects = data.draw(st.lists(posted_objects(fuzz_world, caller), min_size=1, max_size=6))
    response = taxii.post(f"/taxii2/api/collections/{fuzz_world.world.feeds[feed]}/objects/",
                          data=json.dumps({"objects": objects}),
                          headers={"Accept": TAXII, "Content-Type": TAXII, **fuzz_world.world.auth(caller)})
    fuzz_world.record_post(caller, response)
    event(f'HTTP {response.status_code}')
    assert response.status_code in (202, 400, 413, 422), (response.status_code, response.text)
    assert response.headers["Content-Type"] == TAXII
    assert not feed_policy_violations(fuzz_world.home, fuzz_world.posted_by)
    if response.status_code == 202:
        status = response.get_json()
        assert status["total_count"] == len(objects)
        assert status["success_count"] + status["failure_count"] + status["pending_count"] == len(objects)
