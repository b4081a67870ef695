"""`qalqan serve`: the node's Flask app on cheroot, a threaded production WSGI server.

HTTPS when server.tls_cert and server.tls_key are set (TLS 1.2 minimum, AEAD ciphers
with forward secrecy, client certificates required when server.tls_client_ca is set).
Plain HTTP only on a loopback address or when server.allow_plain_http is true.
SIGTERM or SIGINT stops the server and the background sync, and `serve` returns 0.

A start-up problem (a TLS file missing, unreadable or not matching, a port in use,
privileged or out of range, an address not of this machine, a database that cannot
be opened) is one ConfigError naming the config key or option, so `qalqan serve`
prints one sentence and exits 2, never a traceback.
"""
from __future__ import annotations

import errno
import ipaddress
import re
import signal
import socket
import sqlite3
import ssl
import threading
from pathlib import Path

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .errors import ConfigError
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


def _ssl_adapter(home: Path, config) -> BuiltinSSLAdapter | None:
    cert, key = _home_path(home, config["server.tls_cert"]), _home_path(home, config["server.tls_key"])
    if not cert and not key:
        return None
    if not (cert and key):
        raise ConfigError("config.yaml: server.tls_cert and server.tls_key must be set together")
    context = tls_context(cert, key, _home_path(home, config["server.tls_client_ca"]))
    adapter = BuiltinSSLAdapter(cert, key)
    adapter.context = context
    return adapter


def _listen_error(exc: OSError, host: str, port: int, port_key: str) -> ConfigError:
    """Why the socket could not be bound, as one sentence naming the key to change."""
    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
    code = cause.errno
    if code is None:  # cheroot re-raises a bind failure as text: "... [Errno 98] Address already in use))"
        found = re.findall(r"\[Errno (\d+)\]", str(exc))
        code = int(found[-1]) if found else None
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


def build_server(home: Path, host: str | None = None, port: int | None = None) -> wsgi.Server:
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
    port = config["server.port"] if port is None else port
    adapter = _ssl_adapter(home, config)
    if adapter is None and not is_loopback(host) and not config["server.allow_plain_http"]:
        raise ConfigError(f"refusing plain HTTP on {host}: set server.tls_cert and server.tls_key, "
                          "or server.allow_plain_http: true")
    server = wsgi.Server((host, port), app, numthreads=int(config["server.threads"]),
                         server_name="qalqan", request_queue_size=64)
    server.ssl_adapter = adapter
    server.error_log = _cheroot_error_log  # its own lines (TLS handshakes, broken sockets) into our log
    return server


def _cheroot_error_log(msg: str = "", level: int = 20, traceback: bool = False) -> None:
    get_logger("node.http.server").log(level, "%s", msg, exc_info=traceback)


def serve(home: Path | str, host: str | None = None, port: int | None = None, sync: bool = True,
          stop: threading.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or until `stop` is set); returns the exit code."""
    home = Path(home)
    server = build_server(home, host, port)
    try:
        server.prepare()
    except OSError as exc:
        bound_host, bound_port = server.bind_addr[:2]
        raise _listen_error(exc, bound_host, bound_port, "server.port" if port is None else "--port") from None
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    bound_host, bound_port = server.bind_addr[:2]
    scheme = "https" if server.ssl_adapter else "http"
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    print(f"listening on {scheme}://{shown}:{bound_port}/taxii2/", flush=True)
    log.info("listening on %s://%s:%d/ (TAXII at /taxii2/, UI at /, /healthz, /metrics)",
             scheme, shown, bound_port)
    worker = threading.Thread(target=server.serve, name="qalqan-http", daemon=True)
    worker.start()
    syncer = _start_sync(home, stop) if sync else None
    try:
        while not stop.wait(0.5):
            if not worker.is_alive():
                break
    finally:
        stop.set()
        server.stop()
        worker.join(10)
        if syncer is not None:
            syncer.join(10)
    return 0


def add_serve_command(command) -> None:
    p = command("serve", "serve TAXII 2.1 at /taxii2/ and the analyst UI at /, with background sync")
    p.add_argument("--host", help="address to listen on (default: server.host)")
    p.add_argument("--port", type=int, help="port to listen on (default: server.port; 0 picks a free one)")
    p.add_argument("--no-sync", action="store_true", help="do not pull from peers in the background")
    p.set_defaults(run=_cmd_serve)


def _cmd_serve(args) -> int:
    return serve(Path(args.home), host=args.host, port=args.port, sync=not args.no_sync)
