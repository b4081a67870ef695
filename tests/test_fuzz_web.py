"""Property-based fuzzing of the analyst UI's forms and filters (hypothesis, Flask test
client): the log-in form, the incident form, the list filters, incident pages and the
admin's quarantine actions never answer 5xx on arbitrary strings, and an incident the
form accepts lands only in feeds its TLP allows. Each client carries its session's valid
CSRF token, so fuzzed POSTs reach the handlers behind the token check."""
from __future__ import annotations

import copy
import io
import json
import re
import shutil
import uuid
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from fuzz_fixtures import FUZZ, feed_policy_violations
from node.errors import InputError
from node.app import create_app
from node.home import Node
from node.signing import SIGNATURE_EXT, sign
from nodes import make_home
from web_fixtures import ADMIN, ANALYST, csrf_from, form_data, incident_record, log_in

text = st.text(max_size=80)
field_text = st.one_of(text, st.sampled_from(["", " ", "9" * 40, "-1", "1e9", "2026-11-20", "2026-02-30",
                                              "9999-12-31T23:59:59Z", "0000-01-01", "red", "amber+strict",
                                              "\x00", "a" * 3000, "https://", "javascript:alert(1)",
                                              "incident--00000000-0000-4000-8000-000000000000", "{{7*7}}"]))
INCIDENT_FIELDS = ("title", "summary", "claim", "language", "first_seen", "last_seen", "platforms",
                   "target_countries", "disarm", "urls", "accounts", "media_sha256", "verdict", "confidence",
                   "fact_check_url", "threat_actor", "tlp", "share", "share_offered")
LIST_ARGS = ("q", "platform", "country", "technique", "tlp", "verdict", "node", "from", "to", "before")


templates: dict = {}  # a partner node and its signed incident and report, set by `ui`


@pytest.fixture(scope="module")
def ui(web_template, tmp_path_factory):
    """An app over a copy of the web template home with a few incidents, and clients
    logged in as nobody, the analyst and the admin."""
    home = Path(shutil.copytree(web_template, tmp_path_factory.mktemp("fuzz-web") / "kz"))
    node = Node(home)
    for tlp in ("clear", "green", "red"):
        node.add_incident(incident_record(tlp=tlp, title=f"seed {tlp}"))
    uz = Node(make_home(home.parent, "uz", "UZ"))
    node.trust_card(uz.card())
    made = uz.add_incident(incident_record(tlp="green", title="uz template"))
    templates["uz"] = uz
    templates["incident"] = json.loads(uz.store.object_json(made.incident_id))
    templates["report"] = json.loads(uz.store.object_json(made.report_id))
    app = create_app(home, test_config={"CONFIG_MIN_INTERVAL": 3600.0})
    clients = {"anonymous": app.test_client()}
    for role, (name, password) in (("analyst", ANALYST), ("admin", ADMIN)):
        clients[role] = app.test_client()
        assert log_in(clients[role], name, password).status_code == 302
    tokens = {role: csrf_from(client.get("/incidents/new" if role != "anonymous" else "/login").text)
              for role, client in clients.items()}
    return home, clients, tokens


def incident_fields():
    base = form_data(incident_record(share=["public"]))
    return st.fixed_dictionaries({}, optional={k: (st.lists(field_text, max_size=3) if k in ("disarm", "share")
                                                   else field_text) for k in INCIDENT_FIELDS}).map(
        lambda changes: {**base, **changes})


@FUZZ
@given(name=field_text, password=field_text, next_=field_text)
def test_the_log_in_form_never_fails(ui, name, password, next_):
    _, clients, tokens = ui
    response = clients["anonymous"].post("/login", query_string={"next": next_},
                                         data={"csrf_token": tokens["anonymous"], "name": name, "password": password})
    event(f'HTTP {response.status_code}')
    assert response.status_code < 500
    if response.status_code in (301, 302, 303):
        assert same_site(response.headers["Location"]), response.headers["Location"]


def same_site(location: str) -> bool:
    """Would a browser on http://node.example/login stay on that site following
    `location`? Browsers drop tabs and line breaks from URLs and read \\ as /."""
    cleaned = re.sub(r"[\t\n\r]", "", location).replace("\\", "/").strip("\x00 ")
    target = urlsplit(urljoin("http://node.example/login", cleaned))
    return target.scheme == "http" and target.netloc == "node.example"


@FUZZ
@given(next_=st.one_of(field_text, st.sampled_from(["//evil.example", "/\\evil.example", "/\t/evil.example",
                                                     "https:evil.example", "\\\\evil.example", "/%2F/evil.example",
                                                     " //evil.example", "http://node.example@evil.example/"])))
def test_log_in_sends_a_logged_in_user_nowhere_but_this_site(ui, next_):
    _, clients, _ = ui
    response = clients["analyst"].get("/login", query_string={"next": next_})
    assert response.status_code == 302
    assert same_site(response.headers["Location"]), response.headers["Location"]


@FUZZ
@given(data=incident_fields())
def test_the_incident_form_never_fails_and_keeps_the_policy(ui, data):
    home, clients, tokens = ui
    response = clients["analyst"].post("/incidents/new", data={"csrf_token": tokens["analyst"], **data})
    event(f'HTTP {response.status_code}')
    assert response.status_code in (200, 302, 400), response.status_code
    assert not feed_policy_violations(home)


@FUZZ
@given(args=st.dictionaries(st.one_of(st.sampled_from(LIST_ARGS), text), field_text, max_size=6),
       who=st.sampled_from(["anonymous", "analyst", "admin"]),
       path=st.sampled_from(["/incidents", "/dashboard", "/dashboard/data.json", "/", "/login",
                             "/admin/peers", "/admin/quarantine"]),
       tail=st.sampled_from(("",) * 4 + ("&q=%FF", "&%FF=1", "&before=%00", "&from=%C0%80", "&to=%ZZ", "&q=%",
                                         "&tlp=red&tlp=green", "&before=-1", "&before=" + "9" * 19)))
def test_lists_and_filters_never_fail(ui, args, who, path, tail):
    _, clients, _ = ui
    response = clients[who].get(f"{path}?{urlencode(args)}{tail}")
    event(f'HTTP {response.status_code}')
    assert response.status_code < 500


@FUZZ
@given(data=st.data(), suffix=st.sampled_from(["", "/stix.json"]), who=st.sampled_from(["anonymous", "analyst"]))
def test_incident_pages_never_fail(ui, data, suffix, who):
    home, clients, _ = ui
    known = sorted(r["id"] for r in Node(home).store.query("SELECT id FROM objects WHERE type = 'incident'"))
    incident_id = data.draw(st.one_of(field_text, st.sampled_from(known)))
    response = clients[who].get("/incidents/" + incident_id.replace("/", "%2F").replace("?", "%3F")
                                .replace("#", "%23") + suffix)
    event(f'HTTP {response.status_code}')
    assert response.status_code < 500


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(["id", "version", "digest"]), field_text, max_size=3),
       action=st.sampled_from(["delete", "recheck"]), who=st.sampled_from(["analyst", "admin"]))
def test_admin_actions_never_fail(ui, fields, action, who):
    _, clients, tokens = ui
    response = clients[who].post(f"/admin/quarantine/{action}", data={"csrf_token": tokens[who], **fields})
    event(f'HTTP {response.status_code}')
    assert response.status_code < 500


json_values = st.recursive(st.none() | st.booleans() | st.integers(-2 ** 53, 2 ** 53) |
                           st.floats(allow_nan=False, allow_infinity=False) | field_text,
                           lambda kids: st.lists(kids, max_size=3) | st.dictionaries(text, kids, max_size=3),
                           max_leaves=12)
DISINFO_EXT = "extension-definition--98729189-cdcd-48d3-84e1-9d141d145eed"
CORE_EXT = "extension-definition--ef765651-680c-498d-9894-99799f2fa126"
INCIDENT_PATHS = (("name",), ("description",), ("confidence",), ("lang",), ("external_references",),
                  ("extensions", DISINFO_EXT), ("extensions", CORE_EXT),
                  *(("extensions", DISINFO_EXT, k) for k in ("case_id", "claim", "disarm_techniques", "first_seen",
                                                             "last_seen", "languages", "platforms",
                                                             "target_countries", "verdict")),
                  *(("extensions", CORE_EXT, k) for k in ("determination", "incident_types",
                                                          "investigation_status")))
REPORT_PATHS = (("name",), ("published",), ("object_refs",), ("report_types",), ("description",))


@st.composite
def partner_incidents(draw):
    """A partner's incident and report, validly signed, with some fields set to anything."""
    uz = templates["uz"]
    incident, report = copy.deepcopy(templates["incident"]), copy.deepcopy(templates["report"])
    incident["id"] = f"incident--{uuid.uuid4()}"
    report["id"] = f"report--{uuid.uuid4()}"
    report["object_refs"] = [incident["id"] if r.startswith("incident--") else r for r in report["object_refs"]]
    for obj, paths in ((incident, INCIDENT_PATHS), (report, REPORT_PATHS)):
        for path in draw(st.lists(st.sampled_from(paths), max_size=3, unique=True)):
            target = obj
            for key in path[:-1]:
                target = target.get(key) if isinstance(target, dict) else None
            if isinstance(target, dict):  # an earlier change may have replaced the parent
                target[path[-1]] = draw(json_values)
    signed = []
    for obj in (incident, report):
        obj["extensions"].pop(SIGNATURE_EXT, None)
        try:
            signed.append(sign(obj, uz.signing_key))
        except InputError:
            signed.append(obj)
    return signed


@settings(FUZZ, max_examples=max(FUZZ.max_examples // 2, 1))
@given(objects=partner_incidents())
def test_any_signed_partner_incident_leaves_every_page_working(ui, objects):
    """A compromised partner signs incidents with any content in any field: stored or
    refused, the list, the dashboard and the incident's pages still answer (item 8)."""
    home, clients, _ = ui
    Node(home).import_stream(io.BytesIO(json.dumps({"objects": objects}).encode()), source=None)
    analyst = clients["analyst"]
    incident_id = objects[0]["id"]
    for path in ("/incidents", "/dashboard", f"/incidents/{incident_id}", f"/incidents/{incident_id}/stix.json"):
        response = analyst.get(path)
        event(f"{path.split('/')[-1][:9]} HTTP {response.status_code}")
        assert response.status_code < 500, path
    data = analyst.get("/dashboard/data.json")
    assert data.status_code == 200 and isinstance(json.loads(data.data), dict)
