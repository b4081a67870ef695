"""One incident's page: everything recorded, provenance, related incidents, the bundle."""
import io
import json
import re
from html import unescape

import pytest

from node.home import Node
from web_fixtures import import_from, incident_record


def text_of(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


def section(html: str, heading: str) -> str:
    match = re.search(rf"<h2>{heading}</h2>(.*?)</section>", html, re.S)
    assert match, f"no section {heading!r}"
    return match.group(1)


def test_the_page_shows_everything_recorded(analyst, node):
    result = node.add_incident(incident_record(last_seen="2026-11-21T09:30:00Z"))
    html = analyst.get(f"/incidents/{result.incident_id}").text
    text = text_of(section(html, "Recorded"))
    for label in ("Title", "Summary", "Claim", "Language", "First seen", "Last seen", "Platforms",
                  "Target countries", "DISARM", "URLs", "Accounts", "Media SHA-256", "Verdict", "Confidence",
                  "Fact-check URL", "Threat actor", "TLP", "Share"):
        assert f"<dt>{label}</dt>" in html
    for value in ("Fabricated «ministry statement» video", "A video claims the Kazakhstan–Uzbekistan border",
                  "The border closes tomorrow.", "ru", "Nov 20, 2026, 8:00", "Nov 21, 2026, 9:30",
                  "telegram, tiktok", "KZ, UZ", "T0023", "Distort Facts", "T0086.002",
                  "https://t.me/fakechannel/123", "t.me", "telegram: @fakechannel",
                  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "fabricated", "85",
                  "https://factcheck.example.kz/border", "Unknown network", "TLP:GREEN", "Regional", "KZ-"):
        assert value in text, value
    assert "Public" not in text  # green does not go into the clear feed
    # times in the reader's locale (English here), ISO for machines
    assert '<time datetime="2026-11-20T08:00:00Z">' in html and '<time datetime="2026-11-21T09:30:00Z">' in html
    assert "Fabricated <code>fabricated</code>" in html  # the verdict's word, and its value as stored


def test_an_own_incident_is_signed_by_this_node_and_verifies(analyst, node):
    result = node.add_incident(incident_record())
    text = text_of(section(analyst.get(f"/incidents/{result.incident_id}").text, "Provenance"))
    assert "kz (KZ) — this node" in text
    assert node.config.identity in text and node.signing_key.key_id in text
    assert "yes: signature verifies now with pinned key" in text
    assert "recorded at this node" in text


def test_a_partner_incident_shows_its_signer_and_the_peer_it_came_from(analyst, node, uz):
    result = uz.add_incident(incident_record(title="From Tashkent"))
    node.add_peer("uz", uz.card(), "http://127.0.0.1:8002/taxii2/")
    out = io.StringIO()
    uz.export(out)
    node.import_stream(io.BytesIO(out.getvalue().encode()), source="uz")
    text = text_of(section(analyst.get(f"/incidents/{result.incident_id}").text, "Provenance"))
    assert "uz (UZ)" in text and "this node" not in text
    assert uz.signing_key.key_id in text
    assert "received from partner node uz" in text
    assert "yes: signature verifies" in text


def test_an_incident_whose_signer_key_was_revoked_shows_as_not_verified(analyst, node, uz):
    result = uz.add_incident(incident_record(title="Signed with a key later revoked"))
    import_from(node, uz)
    with node.store.transaction() as db:
        db.execute("UPDATE keys SET revoked = '2000-01-01T00:00:00.000Z' WHERE identity = ?", [uz.config.identity])
    node.trust.refresh()
    html = analyst.get(f"/incidents/{result.incident_id}").text
    assert "Not verified" in html and "was revoked" in html


def test_incidents_sharing_a_url_are_related_across_nodes(analyst, node, uz):
    mine = node.add_incident(incident_record(title="KZ sighting", urls=["https://t.me/shared/7"], accounts=[],
                                             media_sha256=[]))
    theirs = uz.add_incident(incident_record(title="UZ sighting", urls=["https://t.me/shared/7"], accounts=[],
                                             media_sha256=[]))
    node.add_incident(incident_record(title="Unrelated", urls=["https://example.org/other"], accounts=[],
                                      media_sha256=[]))
    import_from(node, uz)
    related = section(analyst.get(f"/incidents/{mine.incident_id}").text, "Related incidents")
    assert "UZ sighting" in related and "uz (UZ)" in related
    assert "https://t.me/shared/7" in related
    assert "Unrelated" not in related and "KZ sighting" not in related
    back = section(analyst.get(f"/incidents/{theirs.incident_id}").text, "Related incidents")
    assert "KZ sighting" in back


@pytest.mark.parametrize("shared", [
    {"accounts": [{"platform": "telegram", "login": "@same_account"}]},
    {"media_sha256": ["a" * 64]},
])
def test_incidents_sharing_an_account_or_a_media_hash_are_related(analyst, node, shared):
    base = {"urls": [], "accounts": [], "media_sha256": []}
    first = node.add_incident(incident_record(title="First", **{**base, **shared}))
    node.add_incident(incident_record(title="Second", **{**base, **shared}))
    assert "Second" in section(analyst.get(f"/incidents/{first.incident_id}").text, "Related incidents")


def test_an_incident_without_shared_observables_has_no_related_incidents(analyst, node):
    result = node.add_incident(incident_record(urls=[], accounts=[], media_sha256=[]))
    assert "None found." in analyst.get(f"/incidents/{result.incident_id}").text


def test_the_bundle_is_the_stored_json_verbatim_and_verifies_on_its_own(analyst, node, tmp_path):
    result = node.add_incident(incident_record())
    response = analyst.get(f"/incidents/{result.incident_id}/stix.json")
    assert response.status_code == 200
    assert response.mimetype == "application/stix+json"
    assert f'filename="{result.incident_id}.json"' in response.headers["Content-Disposition"]
    bundle = json.loads(response.data)
    assert bundle["type"] == "bundle"
    ids = [o["id"] for o in bundle["objects"]]
    assert ids[:2] == [result.report_id, result.incident_id] and node.config.identity in ids
    for oid in ids:
        assert node.store.object_json(oid) in response.text
    path = tmp_path / "bundle.json"
    path.write_bytes(response.data)
    fresh = Node(node.home)
    assert fresh.verify_stream(lambda: open(path, "rb")) == []


def test_the_page_lists_the_stix_objects_and_links_the_bundle(analyst, node):
    result = node.add_incident(incident_record())
    html = section(analyst.get(f"/incidents/{result.incident_id}").text, "STIX objects")
    assert f"/incidents/{result.incident_id}/stix.json" in html
    for kind in ("report", "incident", "url", "domain-name", "user-account", "file", "relationship",
                 "observed-data", "location", "threat-actor"):
        assert f"<td>{kind}</td>" in html


@pytest.mark.parametrize("incident_id", ["incident--00000000-0000-4000-8000-000000000000", "report--x",
                                         "../../etc/passwd"])
def test_an_unknown_incident_is_not_found(analyst, incident_id):
    assert analyst.get(f"/incidents/{incident_id}").status_code == 404
    assert analyst.get(f"/incidents/{incident_id}/stix.json").status_code == 404


def test_user_text_is_shown_literally_never_as_html(analyst, node):
    result = node.add_incident(incident_record(title="<script>alert(1)</script>", summary="<img src=x onerror=alert(2)>",
                                               claim="<b>bold</b>"))
    html = analyst.get(f"/incidents/{result.incident_id}").text
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    listing = analyst.get("/incidents").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing and "<script>alert(1)" not in listing


def test_an_observable_in_very_many_reports_is_named_but_relates_nothing(analyst, node):
    from node.web.index import related_incidents
    first = node.add_incident(incident_record(title="First", urls=["https://news-kz.example/one/1"], accounts=[],
                                              media_sha256=[]))
    node.add_incident(incident_record(title="Second", urls=["https://news-kz.example/two/2"], accounts=[],
                                      media_sha256=[]))
    node.add_incident(incident_record(title="Third", urls=["https://news-kz.example/three/3"], accounts=[],
                                      media_sha256=[]))
    assert {r["title"] for r in related_incidents(node.store, first.incident_id).incidents} == {"Second", "Third"}
    related = related_incidents(node.store, first.incident_id, common=2)
    assert related.incidents == [] and related.too_common == [("domain-name", "news-kz.example", 3)]


@pytest.mark.parametrize("host", ["t.me", "www.youtube.com", "vm.tiktok.com", "ok.ru", "m.facebook.com", "x.com"])
def test_a_platform_domain_never_relates_incidents_on_its_own(analyst, node, host):
    from node.web.index import related_incidents
    base = {"accounts": [], "media_sha256": []}
    first = node.add_incident(incident_record(title="First", urls=[f"https://{host}/a/1"], **base))
    node.add_incident(incident_record(title="Same platform", urls=[f"https://{host}/b/2"], **base))
    node.add_incident(incident_record(title="Same post", urls=[f"https://{host}/a/1"], **base))
    related = related_incidents(node.store, first.incident_id)
    assert [r["title"] for r in related.incidents] == ["Same post"]
    assert related.incidents[0]["shared"] == [("url", f"https://{host}/a/1")]
    assert related.platform_domains == [host]
    page = section(analyst.get(f"/incidents/{first.incident_id}").text, "Related incidents")
    assert "Same post" in page and "Same platform" not in page
    assert "Platform domains relate nothing on their own" in page and host in page


def test_a_shared_url_ranks_above_a_shared_domain(node):
    from node.web.index import related_incidents
    base = {"accounts": [], "media_sha256": []}
    first = node.add_incident(incident_record(title="First", urls=["https://news-kz.example/a/1"], **base))
    node.add_incident(incident_record(title="Same domain", urls=["https://news-kz.example/b/2"], **base))
    node.add_incident(incident_record(title="Same URL", urls=["https://news-kz.example/a/1"], **base))
    node.add_incident(incident_record(title="Also same domain", urls=["https://news-kz.example/c/3"], **base))
    titles = [r["title"] for r in related_incidents(node.store, first.incident_id).incidents]
    assert titles[0] == "Same URL" and set(titles[1:]) == {"Same domain", "Also same domain"}
