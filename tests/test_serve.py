"""`qalqan serve`: the asyncio front (node/httpd.py) on loopback, HTTPS with TLS 1.2+, optional client
certificates, plain HTTP refused off loopback, a clean exit on SIGTERM."""
from __future__ import annotations

import datetime
import os
import signal
import socket
import ssl
import subprocess
import sys
import warnings

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from nodes import REPO, TAXII, edit_config, make_home, running_node


def serve_process(home, *args) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "node", "--home", str(home), "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_serve_prints_where_it_listens_and_exits_0_on_sigterm(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    proc = serve_process(home, "--port", "0")  # with the background sync loop
    line = proc.stdout.readline()
    assert line.startswith("listening on http://127.0.0.1:") and line.strip().endswith("/taxii2/")
    assert requests.get(line.split()[-1], headers={"Accept": TAXII}, timeout=30).status_code == 200
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    proc.stdout.close()
    proc.stderr.close()


def test_serve_refuses_plain_http_off_loopback(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    proc = serve_process(home, "--host", "0.0.0.0", "--port", "0", "--no-sync")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "plain HTTP" in err and "server.tls_cert" in err


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(subject: str, key, issuer: str, issuer_key, ca: bool = False, san: bool = False):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(
            __import__("ipaddress").ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path, cert, key) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))


@pytest.fixture
def pki(tmp_path):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all from the CA."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("test CA", ca_key, "test CA", ca_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    _write(tmp_path / "ca", ca, ca_key)
    _write(tmp_path / "server", _certificate("127.0.0.1", server_key, "test CA", ca_key, san=True), server_key)
    _write(tmp_path / "client", _certificate("uz", client_key, "test CA", ca_key), client_key)
    return tmp_path


def tls_home(tmp_path, pki, client_ca: bool = False):
    home = make_home(tmp_path, "kz", "KZ")
    edit_config(home, "server.tls_cert", str(pki / "server.crt"))
    edit_config(home, "server.tls_key", str(pki / "server.key"))
    if client_ca:
        edit_config(home, "server.tls_client_ca", str(pki / "ca.crt"))
    return home


def handshake(port: int, pki, maximum=None, client_cert: bool = False) -> str:
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if maximum:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer old versions: the server must refuse
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.maximum_version = maximum
    if client_cert:
        context.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"GET /taxii2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: " + TAXII.encode() +
                        b"\r\nConnection: close\r\n\r\n")
            answer = tls.recv(65536)
            if not answer:  # TLS 1.3: a refused client certificate ends the connection after the handshake
                raise ConnectionAbortedError("the server closed the connection without an answer")
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
            return tls.version()


def test_serve_speaks_https_with_tls_1_2_and_newer(tmp_path, pki):
    home = tls_home(tmp_path, pki)
    with running_node(home, tls_ca=str(pki / "ca.crt")) as base:
        assert base.startswith("https://127.0.0.1:")
        port = int(base.rsplit(":", 1)[1])
        assert requests.get(base + "/taxii2/", headers={"Accept": TAXII}, verify=str(pki / "ca.crt"),
                            timeout=30).status_code == 200
        assert handshake(port, pki, maximum=ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
        assert handshake(port, pki) == "TLSv1.3"


def test_serve_refuses_tls_below_1_2(tmp_path, pki):
    home = tls_home(tmp_path, pki)
    with running_node(home, tls_ca=str(pki / "ca.crt")) as base:
        port = int(base.rsplit(":", 1)[1])
        with pytest.raises((ssl.SSLError, ConnectionError)):
            handshake(port, pki, maximum=ssl.TLSVersion.TLSv1_1)


def test_serve_requires_a_client_certificate_when_a_client_ca_is_configured(tmp_path, pki):
    home = tls_home(tmp_path, pki, client_ca=True)
    with running_node(home, tls_ca=str(pki / "ca.crt"), client_cert=(str(pki / "client.crt"),
                                                                      str(pki / "client.key"))) as base:
        port = int(base.rsplit(":", 1)[1])
        assert handshake(port, pki, client_cert=True) in ("TLSv1.2", "TLSv1.3")
        for maximum in (None, ssl.TLSVersion.TLSv1_2):
            with pytest.raises((ssl.SSLError, ConnectionError)):
                handshake(port, pki, maximum=maximum, client_cert=False)


# -- start-up mistakes: one sentence naming the key, exit 2, no traceback ---------------

def refused_start(home, *args) -> str:
    proc = serve_process(home, "--port", "0", "--no-sync", *args)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not out.startswith("listening")
    return err


@pytest.mark.parametrize("key, make, expected", [
    ("server.tls_cert", lambda pki: pki / "absent.crt", "server.tls_cert: {path}: no such file"),
    ("server.tls_key", lambda pki: pki / "absent.key", "server.tls_key: {path}: no such file"),
    ("server.tls_cert", lambda pki: pki, "server.tls_cert: {path} is a folder, not a file"),
    ("server.tls_key", lambda pki: pki / "ca.crt", "server.tls_key: {path} does not hold an unencrypted PEM private key"),
    ("server.tls_cert", lambda pki: pki / "server.key", "server.tls_cert: {path} does not hold a PEM certificate"),
    ("server.tls_key", lambda pki: pki / "client.key", "server.tls_key: {path} is not the private key of the certificate"),
    ("server.tls_client_ca", lambda pki: pki / "absent-ca.crt", "server.tls_client_ca: {path}: no such file"),
])
def test_serve_names_the_tls_key_of_a_file_that_is_missing_unreadable_or_not_matching(tmp_path, pki, key, make,
                                                                                      expected):
    home = tls_home(tmp_path, pki)
    path = make(pki)
    edit_config(home, key, str(path))
    assert expected.format(path=path) in refused_start(home)


def test_serve_names_the_port_when_it_is_in_use(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        edit_config(home, "server.port", port)
        proc = serve_process(home, "--no-sync")
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 2 and "Traceback" not in err
        assert err.strip() == f"qalqan: server.port: port {port} on 127.0.0.1 is in use by another program"
        assert f"--port: port {port} on 127.0.0.1 is in use" in refused_start(home, "--port", str(port))


def test_serve_refuses_a_port_out_of_range(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    assert "--port: 70000 is not a port number (0-65535)" in refused_start(home, "--port", "70000")
    edit_config(home, "server.port", 70000)
    proc = serve_process(home, "--no-sync")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "key 'server.port': must be a port number (0-65535)" in err


def test_a_privileged_port_is_explained_with_its_key():
    # Tests run as root here, where binding port 80 succeeds: the sentence is checked directly.
    from node.server import _listen_error
    error = _listen_error(OSError(13, "Permission denied"), "127.0.0.1", 80, "server.port")
    assert error.message.startswith("server.port: port 80 is privileged (below 1024)")


def test_serve_names_the_host_when_it_is_not_an_address_of_this_machine(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    edit_config(home, "server.allow_plain_http", True)
    assert "server.host: 192.0.2.1 is not an address of this machine" in refused_start(home, "--host", "192.0.2.1")


def test_serve_names_a_missing_node_key(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    (home / "keys" / "node.key").unlink()
    assert "keys/node.key: no node key" in refused_start(home)


# -- the WSGI bridge: what the app answers reaches the client ------------------------------

def test_a_response_without_a_body_keeps_its_status_and_headers(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    with running_node(home) as base:
        answer = requests.head(base + "/taxii2/", headers={"Accept": TAXII}, timeout=10)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/taxii+json")
        assert requests.head(base + "/", timeout=10, allow_redirects=False).status_code == 302


def test_a_declared_body_over_max_content_length_is_a_413_before_it_is_sent(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    edit_config(home, "server.max_content_length", 1000)
    with running_node(home) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000000\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 413")


def test_a_body_that_stops_arriving_is_a_408(tmp_path):
    home = make_home(tmp_path, "kz", "KZ")
    edit_config(home, "server.header_timeout", 1)
    with running_node(home) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /taxii2/api/collections/x/objects/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: " + TAXII.encode() + b"\r\nContent-Length: 100\r\n\r\n{\"objects\"")
            assert sock.recv(65536).startswith(b"HTTP/1.1 408")


def test_serve_runs_in_a_thread_and_stops_when_its_event_is_set(tmp_path, capsys):
    import threading
    import time
    from node.server import serve
    home = make_home(tmp_path, "kz", "KZ")
    stop, result = threading.Event(), []
    thread = threading.Thread(target=lambda: result.append(serve(home, "127.0.0.1", 0, sync=False, stop=stop)))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while "listening on" not in (printed := capsys.readouterr().out) and time.monotonic() < deadline:
            time.sleep(0.05)
        url = printed.split()[-1]
        assert requests.get(url, headers={"Accept": TAXII}, timeout=10).status_code == 200
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive() and result == [0]
