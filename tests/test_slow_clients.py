"""Availability of `qalqan serve` against slow, silent and greedy clients (issue 10, items
6 and 7): real `qalqan serve` processes on 127.0.0.1, raw sockets as the bad clients,
requests as the good one. Each test is bounded to a few seconds.
"""
from __future__ import annotations

import socket
import ssl
import threading
import time
from contextlib import contextmanager, ExitStack
from pathlib import Path

import requests

from nodes import TAXII, edit_config, make_home, serving
from test_serve import pki, tls_home  # noqa: F401  (pki is a fixture)

THREADS = 4
HEAD_LIMIT = 64 * 1024


def node_home(tmp_path: Path, pki_folder: Path | None = None, **server) -> Path:
    home = tls_home(tmp_path, pki_folder) if pki_folder else make_home(tmp_path, "kz", "KZ")
    edit_config(home, "server.threads", THREADS)
    for key, value in server.items():
        edit_config(home, f"server.{key}", value)
    return home


def address(base: str) -> tuple[str, int]:
    host, port = base.split("//", 1)[1].rsplit(":", 1)
    return host, int(port)


def silent(base: str) -> socket.socket:
    """A TCP connection that never says anything (for a TLS node: no ClientHello)."""
    return socket.create_connection(address(base), timeout=5)


class Drippers:
    """Connections that send a request head one header line at a time, never finishing it."""

    def __init__(self, base: str, count: int, tls: ssl.SSLContext | None = None) -> None:
        self.sockets = []
        for _ in range(count):
            sock = silent(base)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname="127.0.0.1")
            sock.sendall(b"GET /taxii2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            self.sockets.append(sock)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.thread.start()

    def _drip(self) -> None:
        line = 0
        while not self.stopped.wait(0.2):
            line += 1
            for sock in self.sockets:
                try:
                    sock.sendall(b"X-Slow-%d: 1\r\n" % line)
                except OSError:
                    pass

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        for sock in self.sockets:
            sock.close()


@contextmanager
def bad_clients(base: str, tls: ssl.SSLContext | None = None):
    """threads + 1 header drippers and one silent connection, open for the block."""
    with ExitStack() as stack:
        stack.enter_context(silent(base))
        drippers = Drippers(base, THREADS + 1, tls)
        stack.callback(drippers.close)
        time.sleep(0.5)  # they are all connected and dripping
        yield


def served_quickly(base: str, verify=True) -> list[float]:
    """Seconds for TAXII discovery and the UI's log-in page, three times each."""
    seconds = []
    for _ in range(3):
        for path, headers in (("/taxii2/", {"Accept": TAXII}), ("/login", {})):
            started = time.monotonic()
            answer = requests.get(base + path, headers=headers, timeout=5, verify=verify)
            seconds.append(time.monotonic() - started)
            assert answer.status_code == 200, (path, answer.status_code)
    return seconds


def client_context(pki_folder: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki_folder / "ca.crt"))


# -- the standing slow-client test -------------------------------------------------------

def test_slow_and_silent_clients_do_not_delay_others_over_plain_http(tmp_path):
    with serving(node_home(tmp_path)) as (base, _), bad_clients(base):
        assert max(served_quickly(base)) < 1.0


def test_slow_and_silent_clients_do_not_delay_others_over_tls(tmp_path, pki):
    ca = str(pki / "ca.crt")
    with serving(node_home(tmp_path, pki), tls_ca=ca) as (base, _), bad_clients(base, client_context(pki)):
        assert max(served_quickly(base, verify=ca)) < 1.0


# -- deadlines -----------------------------------------------------------------------------

def closed_within(sock: socket.socket, seconds: float) -> bool:
    """The server closes `sock` (EOF or reset) within `seconds`; whatever it sends first is read."""
    sock.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionError, ssl.SSLError):
        return True
    except (socket.timeout, TimeoutError):
        return False
    return False


def test_a_silent_connection_is_closed_after_the_header_timeout(tmp_path, pki):
    ca = str(pki / "ca.crt")
    with serving(node_home(tmp_path, pki, header_timeout=1), tls_ca=ca) as (base, _):
        with silent(base) as no_client_hello:
            assert closed_within(no_client_hello, 3)
        drippers = Drippers(base, 1, client_context(pki))  # keeps sending, never finishes its head
        try:
            assert closed_within(drippers.sockets[0], 3)
        finally:
            drippers.close()


# -- limits on connections ------------------------------------------------------------------

def test_connections_beyond_the_per_client_limit_are_closed_at_once(tmp_path):
    with serving(node_home(tmp_path, max_connections_per_client=3)) as (base, _):
        time.sleep(0.3)  # the start-up check's connection has been counted out
        held = [silent(base) for _ in range(3)]
        time.sleep(0.3)
        with silent(base) as one_more:
            assert closed_within(one_more, 1)
        for sock in held:
            sock.close()
        time.sleep(0.3)
        assert requests.get(base + "/taxii2/", headers={"Accept": TAXII}, timeout=5).status_code == 200


def test_connections_beyond_the_total_limit_are_closed_at_once(tmp_path):
    with serving(node_home(tmp_path, max_connections=2)) as (base, _):
        time.sleep(0.3)  # the start-up check's connection has been counted out
        held = [silent(base) for _ in range(2)]
        time.sleep(0.3)
        with silent(base) as one_more:
            assert closed_within(one_more, 1)
        for sock in held:
            sock.close()
        time.sleep(0.3)
        assert requests.get(base + "/taxii2/", headers={"Accept": TAXII}, timeout=5).status_code == 200


# -- the size of a request head (item 7) ----------------------------------------------------

def test_a_request_head_over_the_limit_is_answered_431(tmp_path):
    with serving(node_home(tmp_path)) as (base, _):
        with silent(base) as sock:
            head = b"GET /taxii2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
            sock.sendall(head + b"a" * (HEAD_LIMIT + 1 - len(head)))  # no end of head: the limit decides
            sock.settimeout(3)
            assert sock.recv(65536).startswith(b"HTTP/1.1 431")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_huge_header_is_refused_without_being_read(tmp_path):
    with serving(node_home(tmp_path)) as (base, proc):
        before = rss_kib(proc.pid)
        sent, answer = 0, b""
        started = time.monotonic()
        with silent(base) as sock:
            sock.sendall(b"GET /taxii2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: ")
            chunk = b"a" * 65536
            sock.settimeout(0.05)
            try:
                while sent < 50 * 1024 * 1024 and not answer:
                    sock.sendall(chunk)
                    sent += len(chunk)
                    try:
                        answer = sock.recv(65536)
                    except (socket.timeout, TimeoutError):
                        pass
            except (ConnectionError, socket.timeout, TimeoutError):
                pass  # the server closed (a reset may overtake its 431) or stopped reading
        seconds = time.monotonic() - started
        assert sent < 16 * 1024 * 1024, f"the server took {sent} bytes of one header"
        assert not answer or answer.startswith(b"HTTP/1.1 431"), answer[:100]
        assert seconds < 5
        assert rss_kib(proc.pid) - before < 16 * 1024
        assert requests.get(base + "/taxii2/", headers={"Accept": TAXII}, timeout=5).status_code == 200


# -- slow readers -----------------------------------------------------------------------------

def test_clients_that_do_not_read_their_answers_do_not_hold_the_workers(tmp_path):
    with serving(node_home(tmp_path, header_timeout=1)) as (base, _):
        readers = []
        for _ in range(THREADS + 1):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # a window the answers cannot fit in
            sock.connect(address(base))
            sock.sendall(b"GET /assets/vendor/chartjs/chart.umd.min.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 40)
            readers.append(sock)
        try:
            time.sleep(0.5)  # every worker is writing an answer nobody reads
            started = time.monotonic()
            assert requests.get(base + "/taxii2/", headers={"Accept": TAXII}, timeout=10).status_code == 200
            assert time.monotonic() - started < 3  # the write deadline (header_timeout) freed them
        finally:
            for sock in readers:
                sock.close()


# -- bodies being received share a memory budget ----------------------------------------------

def post_head(length: int) -> bytes:
    return (b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % length)


def test_bodies_being_received_share_one_budget_and_others_are_still_served(tmp_path):
    # budget = threads x max_content_length = 1 x 1000 bytes
    with serving(node_home(tmp_path, threads=1, max_content_length=1000, header_timeout=5)) as (base, _):
        with silent(base) as holder, silent(base) as waiter:
            holder.sendall(post_head(1000) + b"a=1")  # holds the whole budget, sends the rest slowly
            time.sleep(0.3)
            waiter.sendall(post_head(1000) + b"a" * 1000)
            waiter.settimeout(1)
            try:
                early = waiter.recv(100)
            except (socket.timeout, TimeoutError):
                early = None
            assert early is None, "a body was taken in beyond the budget"
            started = time.monotonic()
            assert requests.get(base + "/taxii2/", headers={"Accept": TAXII}, timeout=5).status_code == 200
            assert time.monotonic() - started < 1
            holder.close()
            waiter.settimeout(5)
            assert waiter.recv(100).startswith(b"HTTP/1.1 ")
