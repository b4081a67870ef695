"""Small parts of sync that need no server: cursors, backoff, credentials, the command line."""
import json
import signal
import subprocess

import requests
from taxii2client.common import TokenAuth

from node.config import Peer
from node.home import Node
from node.sync.client import Page, auth_for
from node.sync.loop import Backoff
from node.sync.prefetch import prefetched
from node.sync.pull import cursor_after
from node.sync.push import pending

from nodes import edit_feed, make_home as new_home
from sync_fixtures import REPO, free_port, publish_notes, qalqan_cmd, set_setting


def test_the_cursor_of_a_signed_peer_is_the_last_date_added_of_the_page():
    page = Page([{}], "2026-11-27T10:00:00.000005Z", more=False)
    assert cursor_after(page, Peer("uz", "http://127.0.0.1:1/taxii2/")) == "2026-11-27T10:00:00.000005Z"


def test_the_cursor_of_an_unsigned_source_steps_back_one_microsecond_to_refetch_shared_dates():
    page = Page([{}], "2026-11-27T10:00:00.000000Z", more=False)
    peer = Peer("med", "http://127.0.0.1:1/taxii2/", signed=False)
    assert cursor_after(page, peer) == "2026-11-27T09:59:59.999999Z"


def test_a_page_without_a_date_added_leaves_the_cursor_where_it_was():
    assert cursor_after(Page([], None, more=False), Peer("uz", "http://x/")) is None


def test_backoff_doubles_from_half_a_second_up_to_its_ceiling_and_resets_on_success():
    backoff = Backoff(ceiling=3)
    assert [backoff.failed() for _ in range(5)] == [0.5, 1.0, 2.0, 3, 3]
    backoff.succeeded()
    assert backoff.failed() == 0.5


def test_a_user_password_secret_is_sent_as_basic_auth_and_any_other_as_a_token():
    assert isinstance(auth_for("uz:s3cret"), requests.auth.HTTPBasicAuth)
    assert auth_for("uz:s3cret").password == "s3cret"
    assert isinstance(auth_for("qk_abc"), TokenAuth)
    assert auth_for(None) is None


def test_prefetching_keeps_the_order_and_hands_a_producer_error_to_the_consumer():
    assert list(prefetched(iter(range(50)))) == list(range(50))

    def failing():
        yield 1
        raise requests.ConnectionError("gone")
    got = []
    try:
        for item in prefetched(failing()):
            got.append(item)
    except requests.ConnectionError as exc:
        assert str(exc) == "gone"
    else:
        raise AssertionError("the producer's error was swallowed")
    assert got == [1]


def test_sync_names_an_unknown_peer_and_exits_2(make_home, qalqan):
    home = make_home("kz", "KZ")
    out = qalqan("sync", "--once", "--peer", "nobody", home=home)
    assert out.returncode == 2 and "no peer named 'nobody'" in out.stderr


def test_sync_with_no_peers_says_so_and_succeeds(make_home, qalqan):
    out = qalqan("sync", "--once", home=make_home("kz", "KZ"))
    assert out.returncode == 0 and "no peers configured" in out.stdout


def test_sync_without_once_repeats_every_interval_until_sigterm(make_home, tmp_path):
    home = make_home("kz", "KZ")
    Node(home).add_peer("gone", {}, f"http://127.0.0.1:{free_port()}/taxii2/", token="x",
                        pull=["regional"], signed=False)
    set_setting(home, "sync.interval", 0.2)
    proc = subprocess.Popen(qalqan_cmd("sync", "--home", home), cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    rounds = [proc.stdout.readline(), proc.stdout.readline()]
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert all(line.startswith("peer gone: received 0") and "FAILED" in line for line in rounds)
    assert proc.returncode == 1


def test_push_leaves_out_entries_above_the_current_ceiling_of_their_feed(tmp_path):
    home = new_home(tmp_path, "kz", "KZ")
    edit_feed(home, "bilateral", readers=["uz"])
    green, amber = set(publish_notes(home, 2, "green")), set(publish_notes(home, 2, "amber"))
    node = Node(home)

    def pending_notes() -> set[str]:
        texts, _ = pending(node, "uz")
        return {i for i in (json.loads(t)["id"] for t in texts) if i.startswith("note--")}
    assert pending_notes() == green | amber
    edit_feed(home, "bilateral", max_tlp="green")  # lowered after the amber notes were published
    assert node.reload_config_if_changed(min_interval=0)
    assert pending_notes() == green
