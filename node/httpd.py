"""The HTTP front of `qalqan serve`: an asyncio server that holds slow or silent clients
cheaply and hands only complete requests to a pool of worker threads running the app.

Why not a thread per connection (cheroot, what `serve` ran before): there a client that
connects and says nothing, or sends its headers a line at a time, holds a worker thread
(or, for a TLS handshake, the single acceptor) until a 10 s timeout, so `server.threads`
such clients took the node off the air. Here every connection is a coroutine until its
request is complete:

- the TLS handshake runs per connection, bounded by `server.header_timeout`;
- the request line and headers must arrive within `server.header_timeout` of the
  connection opening (or of the previous response) and fit in MAX_HEAD_BYTES (else 431,
  without reading the rest);
- the body is buffered here (at most `server.max_content_length`; a larger declared
  Content-Length goes to the app unread, which answers 413), and may pause at most
  `server.header_timeout` between two pieces (else 408);
- bodies being received share one memory budget, `server.threads` x
  `server.max_content_length` (what the worker threads could hold before); a request
  whose body does not fit waits, as a coroutine, until it does;
- only then a worker thread (`server.threads` of them) runs the WSGI app, and a client
  that stops taking its answer for `server.header_timeout` is cut off, which frees it;
- connections are counted, in all (`server.max_connections`) and per client address
  (`server.max_connections_per_client`); one over either limit is closed at once.

HTTP/1.1 parsing (h11) and the WSGI bridge are hypercorn's; this module adds the
accepting, the limits, the deadlines hypercorn lacks (TLS handshake, body pauses, taking
an answer) and two fixes to its bridge (empty bodies, a 413 before reading).
"""
from __future__ import annotations

import asyncio
import socket
import ssl
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from hypercorn.app_wrappers import WSGIWrapper
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config
from hypercorn.events import Event, RawData

from .logs import get_logger

log = get_logger("node.http.server")

# Request line and headers together. Browsers and TAXII clients send a few KiB at most.
MAX_HEAD_BYTES = 64 * 1024
# In-flight requests get this long to finish when the server stops.
GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class Limits:
    threads: int
    header_timeout: float
    max_connections: int
    max_connections_per_client: int


class ConnectionGate:
    """Open connections, in all and per client address (used from the event loop only)."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total, self.per_client = total, per_client
        self.open = Counter()
        self.open_in_all = 0
        self.warned: set[str] = set()

    def admit(self, address: str) -> bool:
        if self.open_in_all >= self.total or self.open[address] >= self.per_client:
            if address not in self.warned:  # one line per episode, not per refused connection
                self.warned.add(address)
                log.warning("connection limit reached (%s open from %s, %s in all): refusing new connections",
                            self.open[address], address, self.open_in_all)
            return False
        self.open[address] += 1
        self.open_in_all += 1
        return True

    def release(self, address: str) -> None:
        self.open[address] -= 1
        self.open_in_all -= 1
        if self.open[address] <= 0:
            del self.open[address]
            self.warned.discard(address)


class BodyBudget:
    """Bytes of request bodies being held, at most `limit()` together (event loop only).
    A body larger than the whole budget gets it alone, so every request gets its turn."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self.limit = limit
        self.held = 0
        self.changed: asyncio.Condition | None = None  # made in the event loop, at first use

    async def take(self, size: int) -> None:
        self.changed = self.changed or asyncio.Condition()
        async with self.changed:
            await self.changed.wait_for(lambda: self.held == 0 or self.held + size <= self.limit())
            self.held += size

    async def give(self, size: int) -> None:
        async with self.changed:
            self.held -= size
            self.changed.notify_all()


class WsgiBridge(WSGIWrapper):
    """hypercorn's WSGI bridge with a live body limit, a shared budget for bodies being
    held, a pause limit between body pieces, and a response that is never lost when the
    app's body is empty (HEAD, 204, 304)."""

    def __init__(self, app, body_limit: Callable[[], int], pause_limit: float, threads: int) -> None:
        self.app = _never_empty(app)
        self.body_limit = body_limit
        self.pause_limit = pause_limit
        self.budget = BodyBudget(lambda: threads * self.max_body_size)

    @property
    def max_body_size(self) -> int:
        return int(self.body_limit())

    async def __call__(self, scope, receive, send, sync_spawn, call_soon) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send, sync_spawn, call_soon)
        declared, chunked = _declared_body(scope)
        if declared is not None and declared > self.max_body_size:
            return await super().__call__(scope, _no_body, send, sync_spawn, call_soon)  # the app answers 413
        size = self.max_body_size if chunked else (declared or 0)
        if size:
            await self.budget.take(size)
        try:
            await super().__call__(scope, _with_deadline(receive, self.pause_limit), send, sync_spawn, call_soon)
        except TimeoutError:
            await send({"type": "http.response.start", "status": 408, "headers": [(b"connection", b"close")]})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if size:
                await self.budget.give(size)


def _declared_body(scope) -> tuple[int | None, bool]:
    """The Content-Length (h11 has checked it is a number) and whether the body is chunked."""
    declared, chunked = None, False
    for name, value in scope.get("headers", []):
        name = name.lower()
        if name == b"content-length":
            declared = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    return declared, chunked


async def _no_body() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


def _with_deadline(receive, seconds: float):
    async def receive_in_time() -> dict:
        return await asyncio.wait_for(receive(), seconds)
    return receive_in_time


def _never_empty(app):
    def app_with_a_first_chunk(environ, start_response):
        environ["wsgi.errors"] = sys.stderr  # hypercorn gives stdout, where `serve` prints its address
        body = app(environ, start_response)
        try:
            yield from body
            yield b""  # hypercorn sends the status line with the first chunk: there must be one
        finally:
            if hasattr(body, "close"):
                body.close()
    return app_with_a_first_chunk


def hypercorn_config(limits: Limits) -> Config:
    config = Config()
    config.keep_alive_timeout = limits.header_timeout  # also the deadline for a request's head
    config.h11_max_incomplete_size = MAX_HEAD_BYTES
    config.include_server_header = False
    config.graceful_timeout = GRACE_SECONDS
    config.errorlog = log
    config.accesslog = None  # node/accesslog.py logs requests
    return config


class Connection(TCPServer):
    """hypercorn's connection with two changes: it ends as soon as the client has closed
    its side (hypercorn would keep it, and its place under the connection limits, until
    the idle timeout), and a client that stops taking its answer for longer than
    `write_timeout` is cut off (hypercorn would wait for it forever, and with it the worker
    thread producing the answer)."""

    write_timeout: float = 10.0
    task: asyncio.Task | None = None  # the task serving this connection, ended when cut off
    cut_off = False

    async def _read_data(self) -> None:
        await super()._read_data()
        await self.idle_task.stop()

    async def protocol_send(self, event: Event) -> None:
        if not isinstance(event, RawData):
            return await super().protocol_send(event)
        if self.cut_off:
            return  # what the worker still produces for a client that was cut off
        async with self.send_lock:
            try:
                self.writer.write(event.data)
                await asyncio.wait_for(self.writer.drain(), self.write_timeout)
            except (ConnectionError, RuntimeError, TimeoutError):
                # Cancelled rather than closed: with pipelined requests waiting, hypercorn's
                # reader would wait for the cut-off answer to finish, forever.
                self.cut_off = True
                self.writer.transport.abort()
                if self.task is not None:
                    self.task.cancel()


class HttpServer:
    """Serves `app` (WSGI) on the bound, listening socket `sock` until `stop` is set."""

    def __init__(self, app, sock: socket.socket, ssl_context: ssl.SSLContext | None, limits: Limits,
                 body_limit: Callable[[], int]) -> None:
        self.sock, self.ssl_context, self.limits = sock, ssl_context, limits
        self.app = WsgiBridge(app, body_limit, limits.header_timeout, limits.threads)
        self.config = hypercorn_config(limits)
        self.gate = ConnectionGate(limits.max_connections, limits.max_connections_per_client)

    def run(self, stop: threading.Event) -> None:
        asyncio.run(self._serve(stop))

    async def _serve(self, stop: threading.Event) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_quiet_tls_errors)
        workers = ThreadPoolExecutor(self.limits.threads, thread_name_prefix="qalqan-http")
        loop.set_default_executor(workers)  # hypercorn runs WSGI calls in the default executor
        self.context = WorkerContext(None)
        self.tasks: set[asyncio.Task] = set()
        server = await asyncio.start_server(self._connection, sock=self.sock, backlog=1024)
        try:
            while not stop.is_set():
                await asyncio.sleep(0.2)
        finally:
            server.close()
            await self.context.terminated.set()  # idle keep-alive connections close now
            if self.tasks:
                await asyncio.wait(self.tasks, timeout=GRACE_SECONDS)
            workers.shutdown(wait=False, cancel_futures=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        peer = writer.get_extra_info("peername")
        address = peer[0] if peer else "-"
        if not self.gate.admit(address):
            writer.transport.abort()
            return
        try:
            if self.ssl_context is not None and not await self._handshake(writer, address):
                return
            connection = Connection(self.app, asyncio.get_running_loop(), self.config, self.context, {}, reader, writer)
            connection.write_timeout, connection.task = self.limits.header_timeout, task
            try:
                await connection
            except asyncio.CancelledError:
                if not connection.cut_off:
                    raise
                task.uncancel()
        finally:
            self.gate.release(address)

    async def _handshake(self, writer: asyncio.StreamWriter, address: str) -> bool:
        try:
            await writer.start_tls(self.ssl_context, ssl_handshake_timeout=self.limits.header_timeout)
            return True
        except (OSError, asyncio.TimeoutError) as exc:  # ssl.SSLError is an OSError
            log.debug("TLS handshake with %s failed: %s", address, exc)
            writer.transport.abort()
            return False


def _quiet_tls_errors(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """A client's failed handshake or reset is its problem, not a server error."""
    if isinstance(context.get("exception"), (ssl.SSLError, ConnectionError)):
        return
    loop.default_exception_handler(context)
