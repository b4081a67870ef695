"""`qalqan serve`: the node's Flask app behind node/httpd.py's asyncio front, which holds
slow and silent clients cheaply and runs the app in `server.threads` worker threads.

HTTPS when server.tls_cert and server.tls_key are set (TLS 1.2 minimum, AEAD ciphers
with forward secrecy, client certificates required when server.tls_client_ca is set).
Plain HTTP only on a loopback address or when server.allow_plain_http is true.
SIGTERM or SIGINT stops the server, the background sync and the alert delivery
(node/alerts/deliver.py, which runs with or without sync), and `serve` returns 0.

A start-up problem (a TLS file missing, unreadable or not matching, a port in use,
privileged or out of range, an address not of this machine, a database that cannot
be opened) is one ConfigError naming the config key or option, so `qalqan serve`
prints one sentence and exits 2, never a traceback.
"""
from __future__ import annotations

import errno
import ipaddress
import signal
import socket
import sqlite3
import ssl
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .errors import ConfigError
from .httpd import HttpServer, Limits
from .logs import get_logger

log = get_logger(__name__)

# RFC 7540 appendix A forbids the rest for TLS 1.2; TLS 1.3 suites are always AEAD.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def tls_context(cert: str, key: str, client_ca: str | None = None) -> ssl.SSLContext:
    _check_pem("server.tls_cert", cert, _is_certificate)
    _check_pem("server.tls_key", key, _is_private_key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise ConfigError(f"server.tls_key: {key} is not the private key of the certificate in "
                              "server.tls_cert") from None
        raise ConfigError(f"server.tls_cert/server.tls_key: cannot load the certificate and key ({exc})") from None
    if client_ca:
        _check_pem("server.tls_client_ca", client_ca, _is_certificate)
        try:
            context.load_verify_locations(cafile=client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"server.tls_client_ca: cannot load {client_ca} ({exc})") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _is_certificate(data: bytes) -> None:
    x509.load_pem_x509_certificate(data)


def _is_private_key(data: bytes) -> None:
    serialization.load_pem_private_key(data, password=None)


def _check_pem(key: str, path: str, parse) -> None:
    """One sentence naming the config key when the file is missing, unreadable or not
    the PEM it should be (an encrypted private key counts as not loadable: nobody would
    be there to type its passphrase)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{key}: {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{key}: {path} is a folder, not a file") from None
    except PermissionError:
        raise ConfigError(f"{key}: {path}: permission denied (the node's user cannot read it)") from None
    except OSError as exc:
        raise ConfigError(f"{key}: {path}: cannot be read ({exc.strerror or exc})") from None
    try:
        parse(data)
    except (ValueError, TypeError) as exc:
        what = "an unencrypted PEM private key" if key == "server.tls_key" else "a PEM certificate"
        raise ConfigError(f"{key}: {path} does not hold {what} ({exc})") from None


def _home_path(home: Path, value: str | None) -> str | None:
    return None if value is None else str(Path(home) / value)


def _ssl_context(home: Path, config) -> ssl.SSLContext | None:
    cert, key = _home_path(home, config["server.tls_cert"]), _home_path(home, config["server.tls_key"])
    if not cert and not key:
        return None
    if not (cert and key):
        raise ConfigError("config.yaml: server.tls_cert and server.tls_key must be set together")
    return tls_context(cert, key, _home_path(home, config["server.tls_client_ca"]))


def _listen_error(exc: OSError, host: str, port: int, port_key: str) -> ConfigError:
    """Why the socket could not be bound, as one sentence naming the key to change."""
    cause = exc
    code = cause.errno
    if code == errno.EADDRINUSE:
        return ConfigError(f"{port_key}: port {port} on {host} is in use by another program")
    if code == errno.EACCES and 0 < port < 1024:
        return ConfigError(f"{port_key}: port {port} is privileged (below 1024): use a port above 1023, or "
                           "give the service the right to bind it (CAP_NET_BIND_SERVICE)")
    if code == errno.EADDRNOTAVAIL or isinstance(cause, socket.gaierror):
        return ConfigError(f"server.host: {host} is not an address of this machine")
    return ConfigError(f"server.host/{port_key}: cannot listen on {host}:{port} ({cause.strerror or cause})")


def _start_sync(home: Path, stop: threading.Event) -> threading.Thread:
    from .sync.loop import start_background_sync  # the sync machinery loads only when serving
    return start_background_sync(Path(home), stop)


def _start_alerts(home: Path, stop: threading.Event) -> threading.Thread:
    from .alerts.deliver import start_delivery
    return start_delivery(Path(home), stop)


def build_server(home: Path, host: str | None = None, port: int | None = None) -> tuple[HttpServer, str, int]:
    """The server, bound and listening, with the host and port it listens on."""
    from .app import create_app
    if port is not None and not 0 <= port <= 65535:
        raise ConfigError(f"--port: {port} is not a port number (0-65535)")
    try:
        app = create_app(home)
    except sqlite3.Error as exc:
        raise ConfigError(f"database: the node's database cannot be opened ({exc})") from None
    node = app.extensions["qalqan_node"]
    node.signing_key  # a missing or broken keys/node.key is a start-up error, not a failure at first use
    config = node.config
    host = host or config["server.host"]
    port_key = "server.port" if port is None else "--port"
    port = config["server.port"] if port is None else port
    context = _ssl_context(home, config)
    if context is None and not is_loopback(host) and not config["server.allow_plain_http"]:
        raise ConfigError(f"refusing plain HTTP on {host}: set server.tls_cert and server.tls_key, "
                          "or server.allow_plain_http: true")
    limits = Limits(threads=int(config["server.threads"]), header_timeout=float(config["server.header_timeout"]),
                    max_connections=int(config["server.max_connections"]),
                    max_connections_per_client=int(config["server.max_connections_per_client"]))
    try:
        sock = _listen(host, port)
    except OSError as exc:
        raise _listen_error(exc, host, port, port_key) from None
    server = HttpServer(app, sock, context, limits, body_limit=lambda: node.config["server.max_content_length"])
    return server, sock.getsockname()[0], sock.getsockname()[1]


def _listen(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def serve(home: Path | str, host: str | None = None, port: int | None = None, sync: bool = True,
          stop: threading.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or until `stop` is set); returns the exit code."""
    home = Path(home)
    server, bound_host, bound_port = build_server(home, host, port)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    scheme = "https" if server.ssl_context else "http"
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    print(f"listening on {scheme}://{shown}:{bound_port}/taxii2/", flush=True)
    log.info("listening on %s://%s:%d/ (TAXII at /taxii2/, UI at /, /healthz, /metrics)",
             scheme, shown, bound_port)
    syncer = _start_sync(home, stop) if sync else None
    alerts = _start_alerts(home, stop)
    try:
        server.run(stop)
    finally:
        stop.set()
        server.sock.close()
        if syncer is not None:
            syncer.join(10)
        alerts.join(10)
    return 0


def add_serve_command(command) -> None:
    p = command("serve", "serve TAXII 2.1 at /taxii2/ and the analyst UI at /, with background sync")
    p.add_argument("--host", help="address to listen on (default: server.host)")
    p.add_argument("--port", type=int, help="port to listen on (default: server.port; 0 picks a free one)")
    p.add_argument("--no-sync", action="store_true", help="do not pull from peers in the background")
    p.set_defaults(run=_cmd_serve)


def _cmd_serve(args) -> int:
    return serve(Path(args.home), host=args.host, port=args.port, sync=not args.no_sync)
