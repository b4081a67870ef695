"""A partner's answer is bounded: its bytes (sync.max_response_bytes, counted after
decompression) and the time its whole body may take (sync.timeout, not per read). A
partner that sends an endless body, a gzip bomb or drips bytes fails that sync in one
sentence, within the deadline, without filling this node's memory."""
import gzip
import time
import tracemalloc
import uuid
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

from node.home import Node
from node.sync.rounds import sync_peer

from loopback_http import serving_handler
from nodes import edit_config

TAXII = "application/taxii+json;version=2.1"


@contextmanager
def hostile_taxii(send_body, headers=()):
    """A TAXII server on 127.0.0.1 whose every answer is 200 with `send_body(wfile)`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # http.server's name
            self.send_response(200)
            self.send_header("Content-Type", TAXII)
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            try:
                send_body(self.wfile)
            except OSError:
                pass  # the node hung up: what it should do

        def log_message(self, *args):
            pass

    with serving_handler(Handler) as url:
        yield url + "/taxii2/"


def endless(wfile):
    wfile.write(b'{"title": "')
    chunk = b"x" * 65536
    while True:
        wfile.write(chunk)


def drip(wfile):
    wfile.write(b'{"title": "')
    for _ in range(1000):
        wfile.write(b"x")
        wfile.flush()
        time.sleep(0.1)


def node_with_peer(make_home, url, **settings):
    home = make_home("kz")
    for key, value in settings.items():
        edit_config(home, key, value)
    node = Node(home)
    node.add_peer("uz", {}, url, token="t", pull=[str(uuid.uuid4())], signed=False)
    return Node(home)


def sync_measured(node):
    tracemalloc.start()
    started = time.monotonic()
    try:
        result = sync_peer(node, node.config.peers["uz"])
        return result, time.monotonic() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_endless_body_fails_the_sync_at_the_byte_cap_in_one_sentence(make_home):
    with hostile_taxii(endless) as url:
        node = node_with_peer(make_home, url, **{"sync.max_response_bytes": 2 * 1024 * 1024})
        result, seconds, peak = sync_measured(node)
    assert result.error == (f"{url} answered with more than sync.max_response_bytes (2097152 bytes); refused")
    assert seconds < 5
    assert peak < 16 * 1024 * 1024


def test_a_gzip_bomb_is_counted_after_decompression(make_home):
    bomb = gzip.compress(b"[" + b" " * (200 * 1024 * 1024) + b"]", compresslevel=9)
    with hostile_taxii(lambda wfile: wfile.write(bomb),
                       headers=[("Content-Encoding", "gzip"), ("Content-Length", str(len(bomb)))]) as url:
        node = node_with_peer(make_home, url, **{"sync.max_response_bytes": 1024 * 1024})
        result, seconds, peak = sync_measured(node)
    assert "answered with more than sync.max_response_bytes (1048576 bytes); refused" in result.error
    assert peak < 16 * 1024 * 1024


def test_a_partner_that_drips_bytes_is_cut_off_at_the_whole_answers_deadline(make_home):
    with hostile_taxii(drip) as url:
        node = node_with_peer(make_home, url, **{"sync.timeout": 1})
        result, seconds, _peak = sync_measured(node)
    assert result.error.startswith(f"{url} did not finish its answer within sync.timeout (1 s); gave up after ")
    assert seconds < 2.5  # each byte came within the timeout: only a deadline for the whole answer stops it


def test_the_limit_is_a_documented_setting():
    from node.config import SETTINGS
    assert ("sync.max_response_bytes", 64 * 1024 * 1024) in [(key, default) for key, _check, default, _doc in SETTINGS]
