"""Similar claims on the incident page (node/similar_claims.py, node/web/index.py):
near-duplicate claims from any node, in Cyrillic or Latin script or lightly reworded,
listed with a score beside the related incidents."""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import uuid

import pytest
import requests

from node.app import create_app
from node.home import Node
from node.incident import stix_now
from node.signing import SIGNATURE_EXT, sign
from node.similar_claims import SLOTS, THRESHOLD, band_terms, signature, similar
from node.users import add_user
from node.wellknown import DISINFO_EXT

from nodes import edit_config
from sync_fixtures import Network
from test_logs import ui_session
from web_fixtures import csrf_from, form_data, import_from, incident_record

KK_CYRILLIC = "Ертеңнен бастап Қазақстан мен Өзбекстан шекарасы жабылады."
KK_LATIN = "Erteñnen bastap Qazaqstan men Özbekstan şekarasy jabylady."
KK_REWORDED = "Qazaqstan men Özbekstan şekarasy erteñnen bastap jabylady dep habarlandy."
KK_OTHER_CLAIM = "Қазақстан мен Қытай шекарасында жүк көліктері тұрып қалды."  # the border, another claim
UZ_CYRILLIC = "Соғлиқни сақлаш вазирлиги мактабларни бир ойга ёпади."
UZ_LATIN = "Sogʻliqni saqlash vazirligi maktablarni bir oyga yopadi."
RU_CLAIM = "Банки заморозят все депозиты граждан в тенге с первого декабря."
RU_REWORDED = "С первого декабря банки заморозят депозиты граждан в тенге."

PASSWORD = "similar-claims-pw-7"
SIMILAR_ROW = re.compile(r'<td class="score">(\d\.\d\d)</td>\s*<td><a href="/incidents/(incident--[0-9a-f-]+)">'
                         r'.*?</td>\s*<td class="text">.*?</td>\s*<td>([^<]*)</td>', re.S)


def record(title: str, claim: str | None, **more) -> dict:
    """An incident with its own URL, so only its claim can connect it to another."""
    slug = uuid.uuid4().hex[:8]
    return incident_record(title=title, claim=claim, urls=[f"https://news.example/{slug}"], accounts=[],
                           media_sha256=[], **more)


def similar_section(html: str) -> str:
    match = re.search(r'<section class="similar">(.*?)</section>', html, re.S)
    assert match, "the page has no Similar claims section"
    return match.group(1)


def listed(html: str) -> dict[str, tuple[float, str]]:
    """Similar claims on an incident page: incident id → (score, source node as shown)."""
    return {incident_id: (float(score), node.strip())
            for score, incident_id, node in SIMILAR_ROW.findall(similar_section(html))}


# -- two real nodes, syncing -------------------------------------------------------------

@pytest.fixture
def pair(tmp_path):
    net = Network(tmp_path, {"kz": "KZ", "uz": "UZ"})
    net.link("kz", "uz", ["regional"])
    for name in ("kz", "uz"):
        add_user(net[name].node().store, "ana", "analyst", PASSWORD)
    net.start()
    yield net
    net.stop()


def test_the_same_claim_in_cyrillic_and_latin_from_another_node_is_listed_with_a_score(pair):
    kz, uz = pair["kz"].node(), pair["uz"].node()
    kz_border = kz.add_incident(record("KZ: border closes (Kazakh, Cyrillic)", KK_CYRILLIC)).incident_id
    kz_schools = kz.add_incident(record("KZ: schools close (Uzbek, Cyrillic)", UZ_CYRILLIC)).incident_id
    kz_trucks = kz.add_incident(record("KZ: lorries stuck at the China border", KK_OTHER_CLAIM)).incident_id
    uz_border = uz.add_incident(record("UZ: border closes (Kazakh, Latin)", KK_LATIN)).incident_id
    uz_reworded = uz.add_incident(record("UZ: border closes, reworded", KK_REWORDED)).incident_id
    uz_schools = uz.add_incident(record("UZ: schools close (Uzbek, Latin)", UZ_LATIN)).incident_id
    for name in ("kz", "uz"):
        out = pair[name].sync()
        assert out.returncode == 0, out.stderr

    kz_base, uz_base = f"http://127.0.0.1:{pair['kz'].port}", f"http://127.0.0.1:{pair['uz'].port}"
    at_kz, login = ui_session(kz_base, "ana", PASSWORD)
    assert login.status_code == 302
    page = at_kz.get(f"{kz_base}/incidents/{kz_border}", timeout=30).text
    shown = listed(page)
    assert set(shown) == {uz_border, uz_reworded}  # not itself, not the schools, not the lorries
    assert shown[uz_border] == (1.0, "uz (UZ)")  # one transliteration key: the same 3-grams
    assert THRESHOLD <= shown[uz_reworded][0] < 1.0
    assert "UZ: border closes (Kazakh, Latin)" in page and KK_LATIN in page
    assert kz_trucks not in similar_section(page)

    schools = listed(at_kz.get(f"{kz_base}/incidents/{uz_schools}", timeout=30).text)
    assert set(schools) == {kz_schools} and schools[kz_schools][1] == "kz (KZ)"
    assert schools[kz_schools][0] >= THRESHOLD

    at_uz, _ = ui_session(uz_base, "ana", PASSWORD)
    there = listed(at_uz.get(f"{uz_base}/incidents/{uz_schools}", timeout=30).text)
    assert set(there) == {kz_schools} and there[kz_schools][1] == "kz (KZ)"
    assert set(listed(at_uz.get(f"{uz_base}/incidents/{kz_border}", timeout=30).text)) == {uz_border, uz_reworded}


# -- one node, through the app -------------------------------------------------------------

def test_a_partners_signed_bundle_brings_its_claims_into_the_index(analyst, node, uz):
    mine = node.add_incident(record("Uzbek, Latin, here", UZ_LATIN)).incident_id
    theirs = uz.add_incident(record("Uzbek, Cyrillic, from UZ", UZ_CYRILLIC)).incident_id
    summary = import_from(node, uz)
    assert summary.counts["rejected"] == 0
    assert set(listed(analyst.get(f"/incidents/{mine}").text)) == {theirs}
    assert set(listed(analyst.get(f"/incidents/{theirs}").text)) == {mine}


def test_an_incident_recorded_through_the_form_is_matched(analyst, node):
    first = node.add_incident(record("Deposits, first report", RU_CLAIM)).incident_id
    answer = analyst.post("/incidents/new", data={
        "csrf_token": csrf_from(analyst.get("/incidents/new").text),
        **form_data(record("Deposits, reworded", RU_REWORDED))})
    assert answer.status_code == 302
    second = answer.headers["Location"].rsplit("/", 1)[1]
    score, _ = listed(analyst.get(f"/incidents/{first}").text)[second]
    assert THRESHOLD <= score < 1.0


def test_an_incident_is_never_similar_to_itself_and_an_unrelated_claim_is_not_listed(analyst, node):
    alone = node.add_incident(record("Border, alone", KK_CYRILLIC)).incident_id
    node.add_incident(record("Lorries", KK_OTHER_CLAIM))  # the same border, the same words, another claim
    node.add_incident(record("Deposits", RU_CLAIM))
    html = analyst.get(f"/incidents/{alone}").text
    assert listed(html) == {} and "None found." in similar_section(html)
    twin = node.add_incident(record("Border, twin", KK_CYRILLIC)).incident_id
    assert listed(analyst.get(f"/incidents/{alone}").text) == {twin: (1.0, "kz (KZ)")}
    n = node.store.one("SELECT n FROM web_incidents WHERE incident_id = ?", [alone])["n"]
    assert n not in {m.n for m in similar(node.store.conn, n, threshold=0.0)}


def test_an_incident_without_a_claim_lists_no_similar_claims(analyst, node):
    bare = node.add_incident(record("No claim", None)).incident_id
    node.add_incident(record("No claim either", None))
    html = analyst.get(f"/incidents/{bare}").text
    assert "This incident records no claim." in similar_section(html) and listed(html) == {}


def revise(node: Node, signer: Node, incident_id: str, **changes) -> None:
    """A newer version of `signer`'s incident, signed by it, brought into `node` by import."""
    incident = json.loads(node.store.one("SELECT json FROM objects WHERE id = ? AND latest = 1",
                                         [incident_id])["json"])
    del incident["extensions"][SIGNATURE_EXT]
    claim = changes.pop("claim", None)
    if claim is not None:
        incident["extensions"][DISINFO_EXT]["claim"] = claim
    incident.update(modified=stix_now(), **changes)
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [sign(incident, signer.signing_key)]}
    summary = node.import_stream(io.BytesIO(json.dumps(bundle).encode()))
    assert summary.counts["accepted"] == 1, (summary.line(), summary.failures)


def test_a_corrected_claim_is_matched_by_its_new_words_only(analyst, node, uz):
    border = node.add_incident(record("Border", KK_CYRILLIC)).incident_id
    deposits = node.add_incident(record("Deposits", RU_CLAIM)).incident_id
    theirs = uz.add_incident(record("From UZ", KK_LATIN)).incident_id
    import_from(node, uz)
    assert set(listed(analyst.get(f"/incidents/{border}").text)) == {theirs}
    revise(node, uz, theirs, claim=RU_REWORDED)
    assert listed(analyst.get(f"/incidents/{border}").text) == {}
    assert set(listed(analyst.get(f"/incidents/{deposits}").text)) == {theirs}
    assert node.store.one("SELECT COUNT(*) AS n FROM claim_signatures")["n"] == 3


def test_a_withdrawn_incident_stays_listed_as_related_incidents_keep_it(analyst, node, uz):
    shared = {"urls": ["https://news.example/withdrawn-one"], "accounts": [], "media_sha256": []}
    mine = node.add_incident(incident_record(title="Here", claim=UZ_LATIN, **shared)).incident_id
    theirs = uz.add_incident(incident_record(title="Withdrawn at UZ", claim=UZ_CYRILLIC, **shared)).incident_id
    import_from(node, uz)
    revise(node, uz, theirs, revoked=True)
    html = analyst.get(f"/incidents/{mine}").text
    related = re.search(r'<section class="related">(.*?)</section>', html, re.S).group(1)
    # One rule for both lists: the withdrawn version is still an incident the node holds.
    assert theirs in related
    assert theirs in listed(html)


def test_similar_claims_stay_behind_the_log_in_and_off_the_public_pages(web_home):
    edit_config(web_home, "public.enabled", True)
    app = create_app(web_home)
    node, client = app.extensions["qalqan_node"], app.test_client()
    debunk = node.add_incident(record("Public debunk", KK_CYRILLIC, tlp="clear")).incident_id
    secret = node.add_incident(record("Red twin", KK_LATIN, tlp="red")).incident_id
    answer = client.get(f"/incidents/{debunk}")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    public = client.get(f"/public/incidents/{debunk}")
    assert public.status_code == 200 and "Public debunk" in public.text
    assert secret not in public.text and "Red twin" not in public.text and KK_LATIN not in public.text


# -- the signatures -----------------------------------------------------------------------

def test_a_signature_is_the_same_in_every_process():
    """Signatures are stored: a new process (another hash seed) must compute the same bytes."""
    code = ("import sys; from node.similar_claims import signature; "
            "sys.stdout.write(signature(sys.argv[1]).hex())")
    other = subprocess.run([sys.executable, "-c", code, UZ_LATIN], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": ""}).stdout
    assert other == signature(UZ_LATIN).hex()


def test_scripts_fold_to_one_signature_and_an_empty_claim_has_none():
    assert signature(KK_CYRILLIC) == signature(KK_LATIN)
    assert signature(UZ_CYRILLIC) == signature(UZ_LATIN)
    assert signature(" — ,,, ") is None and signature(None) is None and signature("") is None
    assert len(band_terms(signature(RU_CLAIM))) == len(set(band_terms(signature(RU_CLAIM))))


def test_an_analyst_sees_similar_claims_at_any_tlp_as_the_incidents_themselves(analyst, node):
    # The UI's rule: an account sees every incident the node holds (log-in, node/web/auth.py).
    amber = node.add_incident(record("Amber", UZ_CYRILLIC, tlp="amber")).incident_id
    red = node.add_incident(record("Red", UZ_LATIN, tlp="red")).incident_id
    assert set(listed(analyst.get(f"/incidents/{amber}").text)) == {red}
    assert analyst.get(f"/incidents/{red}").status_code == 200


@pytest.mark.parametrize("claim", ["x\ud800yz", "東京 " * 7000, "Ελλάδα και Кыргызстан", "🙂🙂🙂", "a", "\x00\x01"])
def test_any_claim_a_partner_may_sign_gets_a_signature_or_none_never_an_error(claim):
    sig = signature(claim)
    assert sig is None or (len(sig) == 2 * SLOTS and signature(claim) == sig)


def test_a_long_claim_is_shown_cut_in_the_list(analyst, node):
    longest = (UZ_LATIN + " " + "Bu gap takrorlanadi. " * 1000)[:20_000]  # the most a record may hold
    first = node.add_incident(record("Long", longest)).incident_id
    node.add_incident(record("Long too", longest))
    html = analyst.get(f"/incidents/{first}").text
    assert len(listed(html)) == 1
    assert UZ_LATIN in similar_section(html) and len(similar_section(html)) < 3000
