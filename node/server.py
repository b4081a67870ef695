"""`qalqan serve`: the node's Flask app on cheroot, a threaded production WSGI server.

HTTPS when server.tls_cert and server.tls_key are set (TLS 1.2 minimum, AEAD ciphers
with forward secrecy, client certificates required when server.tls_client_ca is set).
Plain HTTP only on a loopback address or when server.allow_plain_http is true.
SIGTERM or SIGINT stops the server and the background sync, and `serve` returns 0.
"""
from __future__ import annotations

import ipaddress
import signal
import ssl
import threading
from pathlib import Path

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from .errors import ConfigError

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
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"server.tls_cert/server.tls_key: cannot load the certificate and key ({exc})") from None
    if client_ca:
        try:
            context.load_verify_locations(cafile=client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"server.tls_client_ca: cannot load {client_ca} ({exc})") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _home_path(home: Path, value: str | None) -> str | None:
    return None if value is None else str(Path(home) / value)


def _ssl_adapter(home: Path, config) -> BuiltinSSLAdapter | None:
    cert, key = _home_path(home, config["server.tls_cert"]), _home_path(home, config["server.tls_key"])
    if not cert and not key:
        return None
    if not (cert and key):
        raise ConfigError("config.yaml: server.tls_cert and server.tls_key must be set together")
    adapter = BuiltinSSLAdapter(cert, key)
    adapter.context = tls_context(cert, key, _home_path(home, config["server.tls_client_ca"]))
    return adapter


def _start_sync(home: Path, stop: threading.Event) -> threading.Thread:
    from .sync.loop import start_background_sync  # the sync machinery loads only when serving
    return start_background_sync(Path(home), stop)


def build_server(home: Path, host: str | None = None, port: int | None = None) -> wsgi.Server:
    from .app import create_app
    app = create_app(home)
    config = app.extensions["qalqan_node"].config
    host = host or config["server.host"]
    port = config["server.port"] if port is None else port
    adapter = _ssl_adapter(home, config)
    if adapter is None and not is_loopback(host) and not config["server.allow_plain_http"]:
        raise ConfigError(f"refusing plain HTTP on {host}: set server.tls_cert and server.tls_key, "
                          "or server.allow_plain_http: true")
    server = wsgi.Server((host, port), app, numthreads=int(config["server.threads"]),
                         server_name="qalqan", request_queue_size=64)
    server.ssl_adapter = adapter
    return server


def serve(home: Path | str, host: str | None = None, port: int | None = None, sync: bool = True,
          stop: threading.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or until `stop` is set); returns the exit code."""
    home = Path(home)
    server = build_server(home, host, port)
    try:
        server.prepare()
    except OSError as exc:
        raise ConfigError(f"cannot listen on {server.bind_addr}: {exc.strerror or exc}") from None
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    bound_host, bound_port = server.bind_addr[:2]
    scheme = "https" if server.ssl_adapter else "http"
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    print(f"listening on {scheme}://{shown}:{bound_port}/taxii2/", flush=True)
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
