"""TLS between partners against a real `qalqan serve` over HTTPS on 127.0.0.1: the
peer's own `ca` and client certificate, one sentence per TLS failure, and two nodes
that each ran `qalqan tls init --mutual` syncing over mutual TLS."""
from __future__ import annotations

import datetime
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import load_pem_x509_certificate
from cryptography.x509.oid import ExtensionOID

from node import tls
from node.config import Peer
from node.home import init_home
from node.sync.client import PeerClient, _caused_by, describe

from conftest import incident_record
from nodes import REPO, TAXII, _listening_url, edit_config, stop
from sync_fixtures import free_port, run, stored_json


def write_pair(folder: Path, name: str, key, cert) -> tuple[str, str]:
    key_path, cert_path = folder / f"{name}.key", folder / f"{name}.crt"
    key_path.write_bytes(tls._key_pem(key))
    cert_path.write_bytes(tls._cert_pem(cert))
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Certificates made with `cryptography`: a CA, server certificates that are good,
    expired, for another name, from an unknown CA; client certificates."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key, ca = tls.make_ca("Test CA")
    (folder / "ca.crt").write_bytes(tls._cert_pem(ca))
    stranger_key, stranger = tls.make_ca("Unknown CA")
    long_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=400)
    made = {
        "good": tls.issue(ca_key, ca, "127.0.0.1", ["127.0.0.1"]),
        "expired": tls.issue(ca_key, ca, "127.0.0.1", ["127.0.0.1"], days=30, not_before=long_ago),
        "other-name": tls.issue(ca_key, ca, "other.example", ["other.example"]),
        "unknown-ca": tls.issue(stranger_key, stranger, "127.0.0.1", ["127.0.0.1"]),
        "client": tls.issue(ca_key, ca, "uz", client=True),
        "stranger-client": tls.issue(stranger_key, stranger, "uz", client=True),
    }
    pairs = {name: write_pair(folder, name, *pair) for name, pair in made.items()}
    return {"ca": str(folder / "ca.crt"), **pairs}


@contextmanager
def https_node(home: Path, *args: str, port: int = 0):
    """`qalqan serve` for `home`; yields the base URL once the socket accepts TLS
    connections (without checking the certificate: some are meant to fail)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "node", "--home", str(home), "serve", "--host", "127.0.0.1",
                             "--port", str(port), *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env, cwd=str(REPO))
    try:
        base = _listening_url(proc, 60).rsplit("/taxii2/", 1)[0]
        yield base
    finally:
        stop(proc)


@pytest.fixture
def kz(tmp_path):
    home = tmp_path / "kz"
    init_home(home, "kz", "KZ", "https://127.0.0.1:8443")
    return home


def serve_with(home: Path, pki, server: str, client_ca: bool = False):
    cert, key = pki[server]
    edit_config(home, "server.tls_cert", cert)
    edit_config(home, "server.tls_key", key)
    if client_ca:
        edit_config(home, "server.tls_client_ca", pki["ca"])
    return https_node(home)


def failure_talking_to(base: str, home: Path, **tls_files) -> str:
    peer = Peer(name="kz", url=base + "/taxii2/", home=home, **tls_files)
    client = PeerClient(peer, timeout=10)
    try:
        client.collections()
    except requests.RequestException as exc:
        return describe(exc)
    finally:
        client.close()
    return "no failure"


@pytest.mark.parametrize("server, expected", [
    ("unknown-ca", "the partner's certificate is not trusted (issued by an unknown CA, or self-signed)"),
    ("expired", "the partner's certificate has expired"),
    ("other-name", "the partner's certificate is for another name than the host in the peer's url"),
])
def test_a_tls_failure_says_what_failed(kz, pki, tmp_path, server, expected):
    with serve_with(kz, pki, server) as base:
        message = failure_talking_to(base, tmp_path, ca=pki["ca"])
    assert message.startswith(f"TLS with {base}/taxii2/ failed: {expected}"), message


def test_a_partner_that_requires_a_client_certificate_says_so(kz, pki, tmp_path):
    with serve_with(kz, pki, "good", client_ca=True) as base:
        without = failure_talking_to(base, tmp_path, ca=pki["ca"])
        stranger = failure_talking_to(base, tmp_path, ca=pki["ca"], client_cert=pki["stranger-client"][0],
                                      client_key=pki["stranger-client"][1])
        good = failure_talking_to(base, tmp_path, ca=pki["ca"], client_cert=pki["client"][0],
                                  client_key=pki["client"][1])
    # Our server (TLS 1.3) closes after the handshake: the likely reading, said as likely
    assert "it most likely requires a client certificate: set the peer's `client_cert` and `client_key`" in without
    assert "did not accept this node's client certificate" in stranger
    assert good == "no failure"


def test_the_peers_ca_is_used_and_beats_requests_ca_bundle(kz, pki, tmp_path, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "absent-bundle.pem"))
    with serve_with(kz, pki, "good") as base:
        assert failure_talking_to(base, tmp_path, ca=pki["ca"]) == "no failure"
        assert "not trusted" in failure_talking_to(base, tmp_path, ca=str(Path(pki["unknown-ca"][0])))


def test_tls_init_makes_a_ca_and_a_server_certificate_for_the_node_url_and_names(kz):
    out = run("tls", "init", "--name", "qalqan.example.kz", "--mutual", "--home", kz)
    assert out.returncode == 0, out.stderr
    config = yaml.safe_load((kz / "config.yaml").read_text())
    assert (config["server"]["tls_cert"], config["server"]["tls_key"]) == ("keys/tls-server.pem", "keys/tls-server.key")
    assert config["server"]["tls_client_ca"] == "keys/tls-client-cas.pem"
    for key in ("tls-ca.key", "tls-server.key", "tls-client.key"):
        assert oct((kz / "keys" / key).stat().st_mode & 0o777) == "0o600", key
        serialization.load_pem_private_key((kz / "keys" / key).read_bytes(), password=None)
    cert = load_pem_x509_certificate((kz / "keys" / "tls-server.pem").read_bytes())
    names = [str(n.value) for n in cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value]
    assert names == ["127.0.0.1", "qalqan.example.kz", "localhost"]
    again = run("tls", "init", "--home", kz)
    assert again.returncode == 2 and "tls-ca.pem exists" in again.stderr


def test_peer_add_refuses_a_ca_file_that_is_no_certificate(kz, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    card = tmp_path / "card.json"
    uz = tmp_path / "uz"
    init_home(uz, "uz", "UZ")
    card.write_text(run("card", "--home", uz).stdout)
    out = run("peer", "add", "uz", "--card", card, "--url", "https://127.0.0.1:9/taxii2/", "--ca", junk, "--home", kz)
    assert out.returncode == 2 and "--ca: " in out.stderr and "does not hold a PEM certificate" in out.stderr
    assert "uz" not in (yaml.safe_load((kz / "config.yaml").read_text()).get("peers") or {})


def test_two_nodes_with_tls_init_sync_over_mutual_tls(tmp_path):
    """Each node: `tls init --mutual`; each trusts the other's CA for its server (peer
    `ca`) and for its clients (`tls trust-client`), and presents its own client certificate."""
    ports = {"kz": free_port(), "uz": free_port()}
    homes = {name: tmp_path / name for name in ports}
    for name, home in homes.items():
        assert run("init", "--name", name, "--country", name.upper(), "--url", f"https://127.0.0.1:{ports[name]}",
                   "--home", home).returncode == 0
        out = run("tls", "init", "--mutual", "--home", home)
        assert out.returncode == 0, out.stderr
    carried = tmp_path / "carried"  # what crosses between the machines: cards, CA certificates, tokens
    carried.mkdir()
    for name, home in homes.items():
        (carried / f"{name}.card.json").write_text(run("card", "--home", home).stdout)
        (carried / f"{name}-ca.pem").write_bytes((home / "keys" / "tls-ca.pem").read_bytes())
    for here, there in (("kz", "uz"), ("uz", "kz")):
        for feed in ("regional",):
            path = homes[here] / "feeds" / f"{feed}.yaml"
            data = yaml.safe_load(path.read_text())
            data["readers"], data["writers"] = [there], [there]
            path.write_text(yaml.safe_dump(data))
            feed_id = data["id"]  # carried with the token
        token = run("token", "create", there, "--home", homes[here]).stdout.split()[-1]
        assert run("tls", "trust-client", "--ca", carried / f"{there}-ca.pem", "--home", homes[here]).returncode == 0
        out = run("peer", "add", here, "--card", carried / f"{here}.card.json",
                  "--url", f"https://127.0.0.1:{ports[here]}/taxii2/", "--token", token, "--pull", feed_id,
                  "--ca", carried / f"{here}-ca.pem", "--client-cert", homes[there] / "keys" / "tls-client.pem",
                  "--client-key", homes[there] / "keys" / "tls-client.key", "--home", homes[there])
        assert out.returncode == 0, out.stderr
    peer_entry = yaml.safe_load((homes["uz"] / "config.yaml").read_text())["peers"]["kz"]
    assert peer_entry["ca"] == "keys/peer-kz-ca.pem" and peer_entry["client_cert"] == "keys/tls-client.pem"

    record = tmp_path / "green.yaml"
    record.write_text(yaml.safe_dump(incident_record(tlp="green", title="Over mutual TLS"), allow_unicode=True))
    out = run("incident", "add", record, "--home", homes["kz"])
    assert out.returncode == 0, out.stderr
    incident = out.stdout.split()[1]
    with https_node(homes["kz"], "--no-sync", port=ports["kz"]):
        out = run("sync", "--once", "--home", homes["uz"])
    assert out.returncode == 0, out.stderr
    assert stored_json(homes["uz"], incident) == stored_json(homes["kz"], incident)
    with https_node(homes["kz"], "--no-sync", port=ports["kz"]) as base:
        # anyone else is stopped at the handshake, or (TLS 1.3, where the client's side ends
        # first) the connection is closed right after it: no client certificate, no TAXII
        with pytest.raises(requests.exceptions.ConnectionError) as refused:
            requests.get(base + "/taxii2/", headers={"Accept": TAXII}, verify=str(carried / "kz-ca.pem"), timeout=10)
        assert refused_at_or_after_handshake(refused.value), repr(refused.value)
    json.loads((carried / "kz.card.json").read_text())


def refused_at_or_after_handshake(exc: requests.exceptions.ConnectionError) -> bool:
    """The handshake failed (SSLError), or the server closed or reset the connection
    after it; not a refused connection, a DNS failure or a timeout."""
    if isinstance(exc, requests.exceptions.SSLError):
        return True
    return _caused_by(exc, (http.client.RemoteDisconnected, ConnectionResetError))


@contextmanager
def tls_server_that_hangs_up(pki):
    """An HTTPS server on 127.0.0.1 that asks for no client certificate, completes the
    handshake, reads the request and closes without answering: a restart, a proxy's reset."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*pki["good"])
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve():
        try:
            with context.wrap_socket(listener.accept()[0], server_side=True) as conn:
                conn.recv(65536)
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        thread.join(10)
        listener.close()


def test_a_close_after_the_handshake_is_not_named_a_certain_client_certificate_demand(pki, tmp_path):
    with tls_server_that_hangs_up(pki) as base:
        message = failure_talking_to(base, tmp_path, ca=pki["ca"])
    assert message.startswith(f"TLS with {base}/taxii2/ failed: the partner closed the connection right after "
                              "the TLS handshake without answering; it most likely requires a client certificate")
    assert message.endswith("otherwise it restarted or something in between reset the connection")
    assert "the partner requires a client certificate" not in message


def test_a_peer_entry_naming_a_missing_ca_file_is_refused_naming_the_key(kz):
    edit_config(kz, "peers", {"uz": {"url": "https://127.0.0.1:9/taxii2/", "ca": "keys/absent.pem"}})
    out = run("status", "--home", kz)
    assert out.returncode == 2 and "key 'peers.uz.ca': " in out.stderr and "absent.pem" in out.stderr


def test_the_reference_configs_peers_example_documents_the_tls_keys():
    from node.config import PEER_PEM_FILES
    text = (REPO / "config.yaml").read_text("utf-8")
    example = text[text.index("# peers:"):]
    for key in PEER_PEM_FILES:
        assert f"#     # {key}: keys/" in example, key


def test_sync_and_status_report_the_tls_failure_in_one_sentence(kz, pki, tmp_path):
    uz = tmp_path / "uz"
    init_home(uz, "uz", "UZ")
    card = tmp_path / "kz-card.json"
    card.write_text(run("card", "--home", kz).stdout)
    with serve_with(kz, pki, "expired") as base:
        out = run("peer", "add", "kz", "--card", card, "--url", base + "/taxii2/", "--pull", "regional",
                  "--ca", pki["ca"], "--home", uz)
        assert out.returncode == 0, out.stderr
        out = run("sync", "--once", "--home", uz)
    assert out.returncode == 1
    assert f"qalqan: peer kz failed: TLS with {base}/taxii2/ failed: the partner's certificate has expired" \
        in out.stderr
    assert "the partner's certificate has expired" in run("status", "--home", uz).stdout


def test_a_partners_self_signed_certificate_can_be_its_ca(kz, tmp_path):
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    pair = write_pair(tmp_path, "self-signed", key, cert)
    edit_config(kz, "server.tls_cert", pair[0])
    edit_config(kz, "server.tls_key", pair[1])
    with https_node(kz) as base:
        assert "not trusted" in failure_talking_to(base, tmp_path)  # the system's CAs do not know it
        assert failure_talking_to(base, tmp_path, ca=pair[0]) == "no failure"


def test_tls_init_turns_an_http_node_url_into_https(tmp_path):
    home = tmp_path / "az"
    init_home(home, "az", "AZ", "http://127.0.0.1:8003")
    out = run("tls", "init", "--home", home)
    assert out.returncode == 0, out.stderr
    assert "node.url is now https://127.0.0.1:8003" in out.stdout
    config = yaml.safe_load((home / "config.yaml").read_text())
    assert config["node"]["url"] == "https://127.0.0.1:8003"
    assert config["server"].get("tls_client_ca") is None  # without --mutual, no client certificates asked for
