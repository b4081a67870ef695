"""Safe by construction: CSP without inline script on every page, no inline styles or
handlers, framing refused, user text escaped."""
import re

import pytest

from node.web.security import CONTENT_SECURITY_POLICY
from web_fixtures import incident_record


@pytest.fixture
def pages(node):
    result = node.add_incident(incident_record(title="<script>alert(1)</script>"))
    return ["/incidents", "/incidents/new", f"/incidents/{result.incident_id}", "/dashboard",
            "/admin/peers", "/admin/quarantine", "/admin/access", "/incidents?q=<script>"]


def test_every_ui_page_carries_a_content_security_policy_without_inline_script(admin, pages):
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    for path in pages:
        response = admin.get(path)
        assert response.status_code == 200, path
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


def test_no_page_has_inline_scripts_styles_or_event_handlers(admin, pages):
    for path in pages:
        html = admin.get(path).text
        for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
            assert "src=" in attrs and not body.strip(), path
        assert not re.search(r"<[^>]+\son[a-z]+=", html), path
        assert not re.search(r"<[^>]+\sstyle=", html), path
        assert "<style" not in html, path


def test_the_log_in_page_and_error_pages_carry_the_policy_too(app, admin):
    assert app.test_client().get("/login").headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    missing = admin.get("/incidents/incident--00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and missing.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_search_text_is_echoed_escaped(admin, pages):
    html = admin.get("/incidents?q=%3Cscript%3Ealert(3)%3C/script%3E").text
    assert "<script>alert(3)" not in html and "&lt;script&gt;alert(3)&lt;/script&gt;" in html


def test_the_account_gate_and_ui_headers_leave_taxii_alone(app):
    response = app.test_client().get("/taxii2/", headers={"Accept": "application/taxii+json;version=2.1"})
    assert response.status_code == 200 and response.content_type == "application/taxii+json;version=2.1"
    assert response.json["api_roots"]
    assert response.headers.get("Content-Security-Policy") != CONTENT_SECURITY_POLICY
