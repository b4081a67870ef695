"""Log-in, log-out, the account gate, roles, rate limiting and CSRF on log-in."""
import pytest

from web_fixtures import ADMIN, ANALYST, csrf_from, log_in

PAGES = ["/", "/incidents", "/incidents/new", "/dashboard", "/dashboard/data.json", "/admin/peers",
         "/admin/quarantine", "/incidents/incident--00000000-0000-4000-8000-000000000000"]
ADMIN_PAGES = ["/admin/peers", "/admin/quarantine"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_but_log_in_sends_a_visitor_without_an_account_to_log_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.location.startswith("/login")


def test_the_log_in_page_is_open_and_carries_a_csrf_token(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert csrf_from(response.text)
    assert 'for="name"' in response.text and 'for="password"' in response.text


def test_an_analyst_logs_in_and_lands_on_the_incident_list(client):
    response = log_in(client, *ANALYST)
    assert response.status_code == 302 and response.location == "/incidents"
    assert client.get("/incidents").status_code == 200


def test_after_log_in_the_visitor_returns_to_the_page_they_asked_for(client):
    page = client.get("/login?next=/dashboard")
    response = client.post("/login?next=/dashboard", data={"csrf_token": csrf_from(page.text),
                                                            "name": ANALYST[0], "password": ANALYST[1]})
    assert response.location == "/dashboard"


# Each of these names another origin, is read as one by a browser or a proxy, or is no path
# at all: browsers fold "\\" into "/" and drop tabs and newlines, so "/\\evil.com" and
# "/\t/evil.com" reach them as "//evil.com"; a control character or a leading "%5C"/"%2F"
# is refused outright.
OFF_SITE = ["/\\evil.com", "//evil.com", "/%5Cevil.com", "/%5cevil.com", "/%2Fevil.com", "https://evil.com",
            "/\tevil", "/\t/evil.com", "/\n/evil.com", "javascript:alert(1)", "\\\\evil.com", "\\/evil.com",
            "/\\/evil.com", "//evil.example/x", "https://evil.example/", "http:/evil.com", "evil.com", " //evil.com", ""]


def _log_in_with_next(client, target):
    page = client.get("/login")
    return client.post("/login", query_string={"next": target},
                       data={"csrf_token": csrf_from(page.text), "name": ANALYST[0], "password": ANALYST[1]})


@pytest.mark.parametrize("target", OFF_SITE)
def test_log_in_never_redirects_to_another_site(client, target):
    response = _log_in_with_next(client, target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/incidents"


@pytest.mark.parametrize("target", OFF_SITE)
def test_a_logged_in_analyst_opening_log_in_is_never_sent_to_another_site(analyst, target):
    response = analyst.get("/login", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/incidents"


def test_a_backslash_decoded_from_the_raw_query_is_refused_too(client):
    # "%5C" in the query string itself arrives as "\\" in request.args.
    page = client.get("/login")
    response = client.post("/login?next=/%5Cevil.com", data={"csrf_token": csrf_from(page.text),
                                                             "name": ANALYST[0], "password": ANALYST[1]})
    assert response.headers["Location"] == "/incidents"


@pytest.mark.parametrize("target", ["/incidents?tlp=green", "/dashboard", "/incidents?q=a%2Fb&tlp=amber",
                                    "/admin/peers"])
def test_a_path_on_this_site_is_still_followed_after_log_in(client, target):
    response = _log_in_with_next(client, target)
    assert response.status_code == 302
    assert response.headers["Location"] == target


def test_the_gate_sends_a_visitor_back_to_the_filtered_list_after_log_in(client):
    gate = client.get("/incidents?tlp=green")
    assert gate.status_code == 302 and gate.location.startswith("/login?next=")
    page = client.get(gate.location)
    response = client.post(gate.location, data={"csrf_token": csrf_from(page.text),
                                                "name": ANALYST[0], "password": ANALYST[1]})
    assert response.headers["Location"] == "/incidents?tlp=green"


def test_a_wrong_password_is_refused_with_a_message(client):
    response = log_in(client, ANALYST[0], "not-the-password")
    assert response.status_code == 401
    assert "Wrong user name or password." in response.text
    assert client.get("/incidents").status_code == 302


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(client):
    response = log_in(client, "nobody", "whatever-password")
    assert response.status_code == 401
    assert "Wrong user name or password." in response.text


def test_log_in_without_a_csrf_token_is_refused(client):
    response = client.post("/login", data={"name": ANALYST[0], "password": ANALYST[1]})
    assert response.status_code == 400
    assert client.get("/incidents").status_code == 302


def test_after_five_failures_even_the_right_password_is_refused_for_a_while(client):
    for _ in range(5):
        assert log_in(client, ANALYST[0], "wrong-password-x").status_code == 401
    response = log_in(client, ANALYST[0], ANALYST[1])
    assert response.status_code == 429
    assert "Too many failed log-in attempts" in response.text
    assert client.get("/incidents").status_code == 302


def test_the_rate_limit_is_per_user_name_so_others_still_log_in(client):
    for _ in range(5):
        log_in(client, ANALYST[0], "wrong-password-x")
    assert log_in(client, *ADMIN).status_code == 302


def test_spraying_many_user_names_from_one_address_is_limited_too(client):
    from node.web.throttle import MAX_ADDRESS_FAILURES
    for i in range(MAX_ADDRESS_FAILURES):
        assert log_in(client, f"guess{i}", "wrong-password-x").status_code == 401
    response = log_in(client, *ADMIN)
    assert response.status_code == 429
    assert "Too many failed log-in attempts" in response.text


def test_a_failed_log_in_with_a_huge_user_name_stores_only_a_short_row(client, node):
    def stored_bytes() -> int:
        return node.store.one("SELECT COALESCE(SUM(LENGTH(key)), 0) AS n FROM web_login_failures")["n"]
    before = stored_bytes()
    assert log_in(client, "x" * 200_000, "wrong-password-x").status_code == 401
    assert 0 < stored_bytes() - before <= 200


def test_a_success_clears_earlier_failures(client):
    for _ in range(4):
        log_in(client, ANALYST[0], "wrong-password-x")
    assert log_in(client, *ANALYST).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/incidents").text)})
    for _ in range(4):
        log_in(client, ANALYST[0], "wrong-password-x")
    assert log_in(client, *ANALYST).status_code == 302


def test_the_session_cookie_is_http_only_and_same_site(client):
    response = log_in(client, *ANALYST)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_the_session_cookie_is_secure_when_the_node_serves_tls(web_home):
    from node.app import create_app
    from conftest import set_config
    set_config(web_home, "server.tls_cert", "cert.pem")
    set_config(web_home, "server.tls_key", "key.pem")
    tls_client = create_app(web_home).test_client()
    assert "Secure" in log_in(tls_client, *ANALYST).headers["Set-Cookie"]


def test_log_out_takes_a_post_with_a_csrf_token(analyst):
    assert analyst.get("/logout").status_code == 405
    assert analyst.post("/logout").status_code == 400
    assert analyst.get("/incidents").status_code == 200
    response = analyst.post("/logout", data={"csrf_token": csrf_from(analyst.get("/incidents").text)})
    assert response.status_code == 302
    assert analyst.get("/incidents").status_code == 302


def test_a_session_cookie_copied_before_log_out_no_longer_works_after_it(app, analyst):
    cookie = analyst.get_cookie("session").value
    analyst.post("/logout", data={"csrf_token": csrf_from(analyst.get("/incidents").text)})
    replay = app.test_client()
    replay.set_cookie("session", cookie)
    assert replay.get("/incidents").status_code == 302


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_an_analyst_may_not_open_admin_pages(analyst, path):
    assert analyst.get(path).status_code == 403


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_an_admin_opens_admin_pages(admin, path):
    assert admin.get(path).status_code == 200


def test_only_admins_see_the_admin_links(analyst, admin):
    assert "/admin/peers" not in analyst.get("/incidents").text
    assert "/admin/peers" in admin.get("/incidents").text


def test_a_removed_account_loses_access_at_once(analyst, node):
    with node.store.transaction() as db:
        db.execute("DELETE FROM users WHERE name = ?", [ANALYST[0]])
    assert analyst.get("/incidents").status_code == 302


def test_the_password_is_stored_hashed_with_a_current_scheme(node):
    stored = node.store.one("SELECT password_hash FROM users WHERE name = ?", [ANALYST[0]])["password_hash"]
    assert ANALYST[1] not in stored
    assert stored.startswith(("scrypt:", "pbkdf2:sha256:"))


def test_a_logged_in_analyst_opening_log_in_goes_on_to_the_list(analyst):
    response = analyst.get("/login")
    assert response.status_code == 302 and response.location == "/incidents"
