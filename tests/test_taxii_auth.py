"""Who may ask what: Basic, Token and Bearer credentials; 401 with a challenge; errors
that do not tell a stranger whether a collection exists; status for its owner only."""
from __future__ import annotations

import uuid

import requests

from conftest import run_qalqan
from nodes import TAXII, signed_notes
from taxii_fixtures import post_envelope


def get(url, **headers):
    return requests.get(url, headers={"Accept": TAXII, **headers}, timeout=30)


def test_basic_auth_with_peer_name_and_token_is_accepted(world):
    resp = requests.get(world.objects_url("regional"), auth=("uz", world.tokens["uz"]),
                        headers={"Accept": TAXII}, timeout=30)
    assert resp.status_code == 200


def test_basic_auth_with_another_peers_name_is_refused(world):
    resp = requests.get(world.objects_url("regional"), auth=("tm", world.tokens["uz"]),
                        headers={"Accept": TAXII}, timeout=30)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Basic")


def test_token_and_bearer_schemes_are_accepted(world):
    for scheme in ("Token", "Bearer"):
        assert get(world.objects_url("regional"), Authorization=f"{scheme} {world.tokens['uz']}").status_code == 200


def test_a_wrong_token_is_a_401_with_a_challenge_even_where_anonymous_may_read(world):
    for url in (world.base + "/taxii2/", world.api, world.objects_url("public"), world.objects_url("regional")):
        resp = get(url, Authorization="Token qk_not-a-real-token")
        assert resp.status_code == 401 and "WWW-Authenticate" in resp.headers
        assert resp.headers["Content-Type"] == TAXII and resp.json()["http_status"] == "401"


def test_an_anonymous_caller_gets_the_same_401_for_hidden_and_unknown_collections(world):
    hidden = get(world.objects_url("regional"))
    unknown = get(f"{world.api}collections/{uuid.uuid4()}/objects/")
    assert hidden.status_code == unknown.status_code == 401
    assert hidden.json() == unknown.json()


def test_an_anonymous_caller_sees_only_public_collections(world):
    collections = get(world.api + "collections/").json()["collections"]
    assert [c["id"] for c in collections] == [world.feeds["public"]]


def test_an_anonymous_caller_cannot_post_even_to_the_public_feed(world):
    resp = requests.post(world.objects_url("public"), data=b'{"objects":[]}',
                         headers={"Accept": TAXII, "Content-Type": TAXII}, timeout=30)
    assert resp.status_code == 401


def test_a_status_is_readable_by_its_owner_only(world):
    status = post_envelope(world, "regional", "uz", signed_notes(world.partners["uz"], 1)).json()
    url = f"{world.api}status/{status['id']}/"
    assert get(url, **world.auth("uz")).json()["id"] == status["id"]
    assert get(url, **world.auth("tm")).status_code == 404
    assert get(url).status_code == 401
    assert get(f"{world.api}status/{uuid.uuid4()}/", **world.auth("uz")).status_code == 404


def test_a_token_made_with_the_cli_while_serving_works_at_once(world):
    result = run_qalqan("token", "create", "uz", home=world.home)
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip().split()[-1]
    assert get(world.objects_url("regional"), Authorization=f"Bearer {secret}").status_code == 200
