"""Does a handful of slow or silent clients keep others from being served?

Runs one node twice side by side, first on cheroot as `qalqan serve` ran it before issue 10
(a thread per connection, TLS handshakes in the acceptor thread, `server.threads` workers,
request queue 64) and then as `qalqan serve` runs it now (node/httpd.py), over plain HTTP
and over TLS. For each it times a good client (a fresh connection per request: TAXII
discovery and the UI's log-in page) first alone, then while bad clients hold:

- N silent TCP connections (for TLS: no ClientHello),
- M connections that send a request head one header line a second, never finishing it,
- K slow TLS handshakes (a real ClientHello sent one byte every half second; TLS only).

Bad clients reconnect when the server closes them, as an attacker would. A good request
that takes longer than --timeout seconds counts as failed.

    .venv/bin/python bench/slow_clients.py [--silent 20] [--drippers 16] [--handshakes 5] [--rounds 5]

The old side needs cheroot installed (`pip install cheroot`); without it only the new
side runs.
"""
from __future__ import annotations

import argparse
import datetime
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from node.home import init_home  # noqa: E402

TAXII = "application/taxii+json;version=2.1"

# cheroot as node/server.py built it before the asyncio front (commit 9e03d7b).
OLD_SERVER = r"""
import sys, threading
from pathlib import Path
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from node.app import create_app
from node.server import tls_context
home = Path(sys.argv[1])
app = create_app(home)
config = app.extensions["qalqan_node"].config
server = wsgi.Server(("127.0.0.1", 0), app, numthreads=int(config["server.threads"]), server_name="qalqan",
                     request_queue_size=64)
if config["server.tls_cert"]:
    cert, key = str(home / config["server.tls_cert"]), str(home / config["server.tls_key"])
    adapter = BuiltinSSLAdapter(cert, key)
    adapter.context = tls_context(cert, key)
    server.ssl_adapter = adapter
server.prepare()
scheme = "https" if server.ssl_adapter else "http"
print(f"listening on {scheme}://127.0.0.1:{server.bind_addr[1]}/taxii2/", flush=True)
server.serve()
"""


def make_pki(folder: Path) -> Path:
    """A CA and a certificate for 127.0.0.1 signed by it; returns the CA file."""
    def name(common):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def certificate(subject, public_key, ca):
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name("bench CA"))
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            import ipaddress
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(ca_key, hashes.SHA256())
    (folder / "ca.crt").write_bytes(certificate("bench CA", ca_key.public_key(), True).public_bytes(
        serialization.Encoding.PEM))
    (folder / "server.crt").write_bytes(certificate("127.0.0.1", key.public_key(), False).public_bytes(
        serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    return folder / "ca.crt"


def make_home(folder: Path, name: str, tls: bool, pki: Path) -> Path:
    home = folder / name
    init_home(home, name, "KZ", "http://127.0.0.1:8001")
    path = home / "config.yaml"
    config = yaml.safe_load(path.read_text("utf-8"))
    if tls:
        config["server"].update(tls_cert=str(pki / "server.crt"), tls_key=str(pki / "server.key"))
    path.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    return home


def start(home: Path, old: bool) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = ([sys.executable, "-c", OLD_SERVER, str(home)] if old else
               [sys.executable, "-m", "node", "--home", str(home), "serve", "--host", "127.0.0.1", "--port", "0",
                "--no-sync"])
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                            cwd=str(REPO))
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return proc, line.split()[-1].rsplit("/taxii2/", 1)[0]


def client_hello() -> bytes:
    """The first flight of a real TLS client, to be sent slowly."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


class Slot:
    """One bad client; reconnects when the server has closed it."""

    def __init__(self, address, kind: str, hello: bytes) -> None:
        self.address, self.kind, self.hello = address, kind, hello
        self.sock, self.step = None, 0

    def tick(self) -> None:
        try:
            if self.sock is None or self._closed():
                self._connect()
            if self.kind == "dripper":
                self.sock.send(b"X-Slow-%d: 1\r\n" % self.step)
            elif self.kind == "handshake" and self.step < len(self.hello):
                self.sock.send(self.hello[self.step:self.step + 1])
            self.step += 1
        except OSError:
            self.close()

    def _connect(self) -> None:
        self.close()
        self.sock = socket.create_connection(self.address, timeout=2)
        self.sock.setblocking(False)
        self.step = 0
        if self.kind == "dripper":
            self.sock.send(b"GET /taxii2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")

    def _closed(self) -> bool:
        try:
            return self.sock.recv(4096, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Attack:
    def __init__(self, base: str, silent: int, drippers: int, handshakes: int, tls: bool) -> None:
        host, port = base.split("//", 1)[1].rsplit(":", 1)
        hello = client_hello()
        kinds = ["silent"] * silent + ["dripper"] * drippers + (["handshake"] * handshakes if tls else [])
        self.slots = [Slot((host, int(port)), kind, hello) for kind in kinds]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for slot in self.slots:  # the drippers' heads are sent a line a second, handshakes a byte every 0.5 s
            slot.tick()
        beat = 0
        while not self.stopped.wait(0.5):
            beat += 1
            for slot in self.slots:
                if slot.kind != "dripper" or beat % 2 == 0:
                    slot.tick()

    def __enter__(self):
        self.thread.start()
        time.sleep(2)
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join(30)
        for slot in self.slots:
            slot.close()


def good_client(base: str, rounds: int, timeout: float, verify) -> tuple[list[float], int]:
    seconds, failed = [], 0
    for _ in range(rounds):
        for path, headers in (("/taxii2/", {"Accept": TAXII}), ("/login", {})):
            started = time.monotonic()
            try:
                ok = requests.get(base + path, headers=headers, timeout=timeout, verify=verify).status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                seconds.append(time.monotonic() - started)
            else:
                failed += 1
    return seconds, failed


def describe(seconds: list[float], failed: int) -> str:
    total = len(seconds) + failed
    if not seconds:
        return f"all {total} failed"
    text = f"median {statistics.median(seconds) * 1000:7.1f} ms, max {max(seconds) * 1000:7.1f} ms"
    return text + (f", {failed}/{total} failed" if failed else f", 0/{total} failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--silent", type=int, default=20)
    parser.add_argument("--drippers", type=int, default=16)
    parser.add_argument("--handshakes", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args()
    try:
        import cheroot  # noqa: F401
        servers = [("cheroot (before)", True), ("qalqan serve (now)", False)]
    except ImportError:
        print("cheroot is not installed: the old side is left out")
        servers = [("qalqan serve (now)", False)]
    print(f"bad clients: {args.silent} silent, {args.drippers} header drippers, {args.handshakes} slow TLS "
          f"handshakes (TLS only); good client: {args.rounds} x (TAXII discovery + UI log-in page), "
          f"a new connection each, {args.timeout:.0f} s timeout; server.threads 8")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        ca = make_pki(folder)
        for scheme, tls in (("http", False), ("https", True)):
            for label, old in servers:
                home = make_home(folder, f"{'old' if old else 'new'}{scheme}", tls, folder)
                proc, base = start(home, old)
                verify = str(ca) if tls else True
                try:
                    good_client(base, 1, args.timeout, verify)  # warm up
                    alone = good_client(base, args.rounds, args.timeout, verify)
                    started = time.monotonic()
                    with Attack(base, args.silent, args.drippers, args.handshakes, tls):
                        attacked = good_client(base, args.rounds, args.timeout, verify)
                    took = time.monotonic() - started
                finally:
                    proc.terminate()
                    proc.wait(20)
                print(f"{scheme:5} {label:20} alone:    {describe(*alone)}")
                print(f"{scheme:5} {label:20} attacked: {describe(*attacked)}  ({took:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
