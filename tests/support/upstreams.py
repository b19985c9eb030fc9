"""Small real servers that play the apps behind the sidecars: HTTP, gRPC and TCP echo.

Each server answers with its own `name` so a test can count which instance a
request reached, and records every request it sees so a test can count upstream
hits (retries, health checks).  Behaviour is controllable per server and per path
(status, fail-N-times-then-succeed, delay, hang), and per request through headers:
`x-upstream-status: 503` and `x-upstream-delay-ms: 250`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import grpc

HANG_LIMIT_S = 60.0  # a hanging handler is released at shutdown, or after this long at worst


@dataclass(frozen=True)
class Behaviour:
    """How a server answers.  `fail_times` answers `fail_status` that many times first."""

    status: int = 200
    fail_times: int = 0
    fail_status: int = 503
    delay: float = 0.0
    hang: bool = False


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    at: float
    # every header line as received, repeats kept (`headers` keeps the last value of a name)
    lines: tuple[tuple[str, str], ...] = ()


@dataclass
class _State:
    default: Behaviour = field(default_factory=Behaviour)
    by_path: dict[str, Behaviour] = field(default_factory=dict)
    failures_left: dict[str | None, int] = field(default_factory=dict)
    seen: list[SeenRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)
    in_flight: int = 0
    max_in_flight: int = 0


class HttpUpstream:
    """A threaded HTTP/1.1 server answering JSON `{name, version, path, method, headers}`."""

    def __init__(self, name: str, host: str, port: int = 0, *, version: str = "v1") -> None:
        self.name = name
        self.version = version
        self._state = _State()
        self._server = _Server((host, port), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=f"http-{name}", daemon=True
        )

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> HttpUpstream:
        self._thread.start()
        return self

    def close(self) -> None:
        self._state.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    # -- control ----------------------------------------------------------------
    def behave(self, path: str | None = None, **changes: Any) -> None:
        """Change the answer for every path, or only for the exact `path`; resets fail counters."""
        with self._state.lock:
            if path is None:
                self._state.default = replace(Behaviour(), **changes)
            else:
                self._state.by_path[path] = replace(Behaviour(), **changes)
            self._state.failures_left.pop(path, None)

    def reset(self) -> None:
        """Back to answering 200 everywhere, with the request log cleared."""
        with self._state.lock:
            self._state.default = Behaviour()
            self._state.by_path.clear()
            self._state.failures_left.clear()
            self._state.seen.clear()
            self._state.max_in_flight = self._state.in_flight

    # -- observation --------------------------------------------------------------
    def requests(self, path: str | None = None) -> list[SeenRequest]:
        with self._state.lock:
            return [r for r in self._state.seen if path is None or r.path == path]

    def hits(self, path: str | None = None) -> int:
        return len(self.requests(path))

    @property
    def max_in_flight(self) -> int:
        """The most requests this server has handled at the same time (since `reset`)."""
        with self._state.lock:
            return self._state.max_in_flight

    # -- request handling (called from server threads) -----------------------------
    def _decide(self, path: str, headers: dict[str, str]) -> Behaviour:
        bare = path.split("?", 1)[0]
        with self._state.lock:
            key = bare if bare in self._state.by_path else None
            behaviour = self._state.by_path.get(bare, self._state.default)
            if behaviour.fail_times:
                left = self._state.failures_left.setdefault(key, behaviour.fail_times)
                if left > 0:
                    self._state.failures_left[key] = left - 1
                    behaviour = replace(behaviour, status=behaviour.fail_status)
        if "x-upstream-status" in headers:
            behaviour = replace(behaviour, status=int(headers["x-upstream-status"]))
        if "x-upstream-delay-ms" in headers:
            behaviour = replace(behaviour, delay=int(headers["x-upstream-delay-ms"]) / 1000)
        return behaviour

    def _record(self, method: str, path: str, headers: dict[str, str], lines: tuple[tuple[str, str], ...]) -> None:
        with self._state.lock:
            self._state.seen.append(SeenRequest(method, path, headers, time.monotonic(), lines))

    @contextlib.contextmanager
    def _serving_one(self) -> Iterator[None]:
        with self._state.lock:
            self._state.in_flight += 1
            self._state.max_in_flight = max(self._state.max_in_flight, self._state.in_flight)
        try:
            yield
        finally:
            with self._state.lock:
                self._state.in_flight -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def _handler_for(upstream: HttpUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes; Nagle would add 40 ms

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the default stderr access log."""

        def _serve(self) -> None:
            with upstream._serving_one():
                self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            upstream._record(self.command, self.path, headers, tuple((k.lower(), v) for k, v in self.headers.items()))
            behaviour = upstream._decide(self.path, headers)
            if behaviour.hang:
                upstream._state.closing.wait(HANG_LIMIT_S)
                self.close_connection = True
                return
            if behaviour.delay:
                upstream._state.closing.wait(behaviour.delay)
            body = json.dumps(
                {
                    "name": upstream.name,
                    "version": upstream.version,
                    "path": self.path,
                    "method": self.command,
                    "headers": headers,
                }
            ).encode()
            self.send_response(behaviour.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.send_header("x-upstream-name", upstream.name)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    return Handler


class GrpcUpstream:
    """A grpcio server that answers any unary method with JSON `{name, method, metadata}` bytes.

    Requests and responses are raw bytes (no generated stubs needed).  `fail_times`
    makes the first calls end with `fail_code` (default UNAVAILABLE).
    """

    def __init__(self, name: str, host: str, port: int = 0) -> None:
        self.name = name
        self.fail_times = 0
        self.fail_code = grpc.StatusCode.UNAVAILABLE
        self.seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self._server.add_generic_rpc_handlers((_AnyMethod(self),))
        bound = self._server.add_insecure_port(f"{host}:{port}")
        if bound == 0:
            raise OSError(f"grpc upstream {name} could not bind {host}:{port}")
        self.address = (host, bound)

    def start(self) -> GrpcUpstream:
        self._server.start()
        return self

    def close(self) -> None:
        self._server.stop(grace=None).wait(5)

    def hits(self, method: str | None = None) -> int:
        with self._lock:
            return sum(self.seen.values()) if method is None else self.seen[method]

    def _answer(self, method: str, context: grpc.ServicerContext) -> bytes:
        with self._lock:
            self.seen[method] += 1
            failing = self.fail_times > 0
            if failing:
                self.fail_times -= 1
        if failing:
            context.abort(self.fail_code, f"{self.name} told to fail")
        metadata = {key: value for key, value in context.invocation_metadata() if isinstance(value, str)}
        return json.dumps({"name": self.name, "method": method, "metadata": metadata}).encode()


class _AnyMethod(grpc.GenericRpcHandler):
    def __init__(self, upstream: GrpcUpstream) -> None:
        self._upstream = upstream

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = handler_call_details.method

        def unary(request: bytes, context: grpc.ServicerContext) -> bytes:
            return self._upstream._answer(method, context)

        return grpc.unary_unary_rpc_method_handler(unary)


class TcpServer:
    """A threaded TCP server on `(host, port)`: counts connections and hands each to `handle` on its own thread."""

    def __init__(self, name: str, host: str, port: int = 0) -> None:
        self.name = name
        self.connections = 0
        self._lock = threading.Lock()
        self._sock = socket.create_server((host, port), reuse_port=False)
        self._sock.settimeout(0.2)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name=f"tcp-{name}", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> Self:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()


class TcpEchoUpstream(TcpServer):
    """Answers every line `x` with `<name> x`; counts connections."""

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(HANG_LIMIT_S)
        with conn, contextlib.suppress(OSError), conn.makefile("rwb") as stream:
            for line in stream:
                stream.write(self.name.encode() + b" " + line)
                stream.flush()


@contextlib.contextmanager
def serving(*servers: HttpUpstream | GrpcUpstream | TcpEchoUpstream) -> Iterator[None]:
    """Start servers for the duration of a `with` block and always close them."""
    started = []
    try:
        for server in servers:
            started.append(server.start())
        yield
    finally:
        for server in reversed(started):
            server.close()
