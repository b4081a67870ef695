"""A private PKI for an operator without one (`qalqan tls init`, `tls client-cert`,
`tls trust-client`), so two ministries can run HTTPS with mutual TLS between them.

`tls init` makes a CA of this node (keys/tls-ca.pem, its key 0600) and a server
certificate it signs, for the host of node.url plus any --name, and sets
server.tls_cert/tls_key. With --mutual it also sets server.tls_client_ca to
keys/tls-client-cas.pem, a bundle that starts with this node's own CA; each
partner's CA is added to it with `tls trust-client --ca FILE`. `tls client-cert`
makes the certificate this node presents to partners (peer `client_cert`/`client_key`).

So two nodes that each ran `tls init --mutual` connect when each one trusts the
other's CA twice: as the peer's `ca` (the partner's server) and in its client-CA
bundle (the partner's client certificate). The CA certificate is public; hand it over
with the card.
"""
from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import config as config_mod
from .errors import ConfigError, InputError
from .keys import write_private

CA_CERT, CA_KEY = "keys/tls-ca.pem", "keys/tls-ca.key"
SERVER_CERT, SERVER_KEY = "keys/tls-server.pem", "keys/tls-server.key"
CLIENT_CERT, CLIENT_KEY = "keys/tls-client.pem", "keys/tls-client.key"
CLIENT_CAS = "keys/tls-client-cas.pem"
CA_DAYS, LEAF_DAYS = 3650, 825


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _builder(subject: str, issuer: x509.Name, public_key, days: int,
             not_before: datetime.datetime | None = None) -> x509.CertificateBuilder:
    start = not_before or datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer).public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def make_ca(common_name: str, days: int = CA_DAYS):
    """A self-signed CA (key, certificate) that may sign leaf certificates only."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (_builder(common_name, name, key.public_key(), days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def issue(ca_key, ca_cert: x509.Certificate, common_name: str, names: list[str] = (), client: bool = False,
          days: int = LEAF_DAYS, not_before: datetime.datetime | None = None):
    """A leaf (key, certificate) signed by the CA: a server certificate for `names`
    (DNS names or IP addresses), or a client certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (_builder(common_name, ca_cert.subject, key.public_key(), days, not_before)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client
                                                     else ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        return x509.DNSName(name)


def server_names(url: str, extra: list[str]) -> list[str]:
    """The node.url host, the names given, and localhost/127.0.0.1 when the node is
    reached on loopback (so local tools and tests can check the certificate too)."""
    host = urlsplit(url).hostname or "localhost"
    names = [host, *extra]
    if host in ("localhost", "127.0.0.1", "::1"):
        names += ["localhost", "127.0.0.1"]
    return list(dict.fromkeys(names))


def _write_new(home: Path, rel: str, data: bytes, private: bool = False) -> None:
    path = home / rel
    if private:
        write_private(path, data)  # refuses to overwrite
    else:
        path.write_bytes(data)


def _refuse_existing(home: Path, rels: list[str]) -> None:
    for rel in rels:
        if (home / rel).exists():
            raise InputError(f"{home / rel} exists: this node already has its TLS files; "
                             "remove them first to make new ones")


def _load_ca(home: Path):
    try:
        key = serialization.load_pem_private_key((home / CA_KEY).read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate((home / CA_CERT).read_bytes())
    except FileNotFoundError:
        raise InputError(f"{home / CA_KEY}: no CA of this node; run `qalqan tls init` first") from None
    return key, cert


def init(home: Path, names: list[str], mutual: bool, by: str = "cli") -> dict[str, str]:
    """Make the CA and server certificate (and, with `mutual`, the client-CA bundle
    and a client certificate) and point config.yaml at them (audited). Returns what was written."""
    config = config_mod.load(home)
    planned = [CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY] + ([CLIENT_CAS, CLIENT_CERT, CLIENT_KEY] if mutual else [])
    _refuse_existing(home, planned)
    ca_key, ca_cert = make_ca(f"Qalqan node {config.name} CA")
    hosts = server_names(config["node.url"], names)
    key, cert = issue(ca_key, ca_cert, hosts[0], hosts)
    _write_new(home, CA_KEY, _key_pem(ca_key), private=True)
    _write_new(home, CA_CERT, _cert_pem(ca_cert))
    _write_new(home, SERVER_KEY, _key_pem(key), private=True)
    _write_new(home, SERVER_CERT, _cert_pem(cert) + _cert_pem(ca_cert))
    written = {"ca": CA_CERT, "server_cert": SERVER_CERT, "names": ", ".join(hosts)}
    if mutual:
        _write_new(home, CLIENT_CAS, _cert_pem(ca_cert))
        written.update(client_cert(home))
        written["client_cas"] = CLIENT_CAS

    url = config["node.url"]
    if url.startswith("http://"):  # partners must reach the node the way it now serves
        url = "https://" + url[len("http://"):]
        written["url"] = url

    def change(data: dict) -> None:
        data["node"]["url"] = url
        server = data.setdefault("server", {})
        server["tls_cert"], server["tls_key"] = SERVER_CERT, SERVER_KEY
        if mutual:
            server["tls_client_ca"] = CLIENT_CAS
    config_mod.update_config(home, change)
    _audit(home, "tls-init", by, f"CA and server certificate for {written['names']}"
                                 + ("; client certificates asked for" if mutual else ""))
    return written


def client_cert(home: Path) -> dict[str, str]:
    """The certificate this node presents to partners that ask for one, signed by its CA."""
    _refuse_existing(home, [CLIENT_CERT, CLIENT_KEY])
    ca_key, ca_cert = _load_ca(home)
    key, cert = issue(ca_key, ca_cert, f"Qalqan node {config_mod.load(home).name}", client=True)
    _write_new(home, CLIENT_KEY, _key_pem(key), private=True)
    _write_new(home, CLIENT_CERT, _cert_pem(cert) + _cert_pem(ca_cert))
    return {"client_cert": CLIENT_CERT, "client_key": CLIENT_KEY}


def trust_client(home: Path, ca_file: Path, by: str = "cli") -> int:
    """Add a partner's CA to the client-CA bundle (server.tls_client_ca; audited); returns
    how many certificates were new."""
    config = config_mod.load(home)
    bundle_rel = config["server.tls_client_ca"]
    if not bundle_rel:
        raise InputError("server.tls_client_ca is not set: run `qalqan tls init --mutual` (or set it) first")
    try:
        new = x509.load_pem_x509_certificates(Path(ca_file).read_bytes())
    except FileNotFoundError:
        raise InputError(f"--ca: no such file {ca_file}") from None
    except ValueError:
        raise InputError(f"--ca: {ca_file} does not hold a PEM certificate") from None
    bundle = home / bundle_rel
    held = x509.load_pem_x509_certificates(bundle.read_bytes()) if bundle.exists() else []
    added = [c for c in new if c not in held]
    if added:
        with bundle.open("ab") as out:
            out.write(b"".join(_cert_pem(c) for c in added))
        subjects = ", ".join(c.subject.rfc4514_string() for c in added)
        _audit(home, "tls-client-ca-trusted", by, f"client certificates signed by {subjects} accepted")
    return len(added)


def _audit(home: Path, event: str, by: str, what: str) -> None:
    from .store import Store
    store = Store(config_mod.load(home).database_path)
    with store.transaction():
        store.audit(event, None, None, by, what)


def place_peer_file(home: Path, file: str, peer: str, role: str) -> str:
    """A TLS file for a peer entry, as a path relative to the home: kept where it is
    when inside the home, else copied to keys/peer-<peer>-<role>.pem (0600 for a key),
    so the home (and its backup) holds everything the node needs."""
    option = "--" + role.replace("_", "-")
    source = Path(file).resolve()
    if not source.is_file():
        raise InputError(f"{option}: no such file {file}")
    try:
        config_mod.check_pem_file(source, config_mod.PEER_PEM_FILES[role], option)
    except ConfigError as exc:
        raise InputError(exc.message) from None
    try:
        return str(source.relative_to(home.resolve()))
    except ValueError:
        pass
    rel = f"keys/peer-{peer}-{role.replace('_', '-')}.pem"
    (home / rel).unlink(missing_ok=True)
    _write_new(home, rel, source.read_bytes(), private=role == "client_key")
    return rel


def add_tls_command(command, home) -> None:
    """`home`: the parser of the common options (--home, logging) every subcommand takes."""
    tls = command("tls", "a private CA and certificates for HTTPS and mutual TLS between partners") \
        .add_subparsers(dest="tls_command", required=True)
    p = tls.add_parser("init", parents=[home],
                       help="make this node's CA and a server certificate, and set server.tls_cert/tls_key")
    p.add_argument("--name", action="append", default=[], metavar="HOST",
                   help="another DNS name or IP address the server certificate is for (repeat); "
                        "the host of node.url is always included")
    p.add_argument("--mutual", "--client-ca", dest="mutual", action="store_true",
                   help="also ask partners for client certificates (server.tls_client_ca) and make this node's own")
    p.set_defaults(run=_cmd_init)
    p = tls.add_parser("client-cert", parents=[home],
                       help="make the client certificate this node presents to partners (mutual TLS)")
    p.set_defaults(run=_cmd_client_cert)
    p = tls.add_parser("trust-client", parents=[home],
                       help="accept client certificates signed by a partner's CA (adds it to server.tls_client_ca)")
    p.add_argument("--ca", required=True, help="the partner's CA certificate (PEM)")
    p.set_defaults(run=_cmd_trust_client)


def _cmd_init(args) -> int:
    written = init(Path(args.home), args.name, args.mutual)
    print(f"server certificate {written['server_cert']} for {written['names']}, "
          f"signed by this node's CA {written['ca']}")
    if args.mutual:
        print(f"client certificates asked for, trusted from {written['client_cas']} (add partners' CAs with "
              f"`qalqan tls trust-client --ca FILE`); this node's own: {written['client_cert']}")
    if "url" in written:
        print(f"node.url is now {written['url']}")
    print(f"give partners {written['ca']} (their peer `ca`); restart `qalqan serve` to use HTTPS")
    return 0


def _cmd_client_cert(args) -> int:
    written = client_cert(Path(args.home))
    print(f"client certificate {written['client_cert']}, key {written['client_key']}: "
          f"`qalqan peer add … --client-cert {written['client_cert']} --client-key {written['client_key']}`")
    return 0


def _cmd_trust_client(args) -> int:
    added = trust_client(Path(args.home), Path(args.ca))
    print(f"{added} certificate(s) added to the client-CA bundle; restart `qalqan serve` to apply")
    return 0
