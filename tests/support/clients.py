"""Traffic clients: how an app in the mesh talks through its sidecar.

After iptables redirection an app's outbound request reaches the egress listener
with `Host: <virtual service>:<port>`; here the client connects to the sidecar's
egress address directly and sends that Host, which is the same thing on the wire.
All calls are bounded by timeouts; none retries on its own.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPSConnection
from pathlib import Path
from typing import Any

import grpc


@dataclass(frozen=True)
class Reply:
    """One HTTP exchange as the client saw it; `status` 0 means the connection failed."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    elapsed: float = 0.0
    error: str | None = None
    # every header line as received, repeats kept (`headers` keeps the last value of a name)
    header_lines: tuple[tuple[str, str], ...] = ()

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def upstream(self) -> str | None:
        """The name of the upstream server that answered, if one did."""
        return self.headers.get("x-upstream-name")


def http_request(
    address: tuple[str, int],
    host: str,
    path: str = "/",
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
    tls: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> Reply:
    """Send one request to `address` with `Host: host`; connection errors become `status=0`."""
    started = time.monotonic()
    if tls is None:
        conn: HTTPConnection = HTTPConnection(address[0], address[1], timeout=timeout)
    else:
        conn = _TlsConnection(address, tls, server_hostname or host.split(":")[0], timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        return Reply(
            status=response.status,
            headers={k.lower(): v for k, v in response.getheaders()},
            body=data,
            elapsed=time.monotonic() - started,
            header_lines=tuple((k.lower(), v) for k, v in response.getheaders()),
        )
    except (OSError, ConnectionError) as error:  # ssl.SSLError and timeouts are OSErrors too
        return Reply(status=0, elapsed=time.monotonic() - started, error=f"{type(error).__name__}: {error}")
    finally:
        conn.close()


class _TlsConnection(HTTPSConnection):
    def __init__(self, address: tuple[str, int], context: ssl.SSLContext, sni: str, timeout: float) -> None:
        super().__init__(address[0], address[1], timeout=timeout, context=context)
        self._sni = sni

    def connect(self) -> None:
        HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._sni)


def tls_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A client context trusting `ca`, presenting `cert`/`key` when given; hostnames are not checked."""
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key else None)
    return context


def tally(replies: Iterable[Reply]) -> Counter[str]:
    """Count replies by answering upstream, or by `status:<code>` when no upstream answered."""
    counts: Counter[str] = Counter()
    for reply in replies:
        counts[reply.upstream or f"status:{reply.status}"] += 1
    return counts


def repeat(call: Callable[[], Reply], times: int, *, concurrency: int = 1) -> list[Reply]:
    """Run `call` `times` times, optionally on `concurrency` threads at once."""
    if concurrency <= 1:
        return [call() for _ in range(times)]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(lambda _: call(), range(times)))


@dataclass(frozen=True)
class GrpcReply:
    code: grpc.StatusCode
    body: dict[str, Any] | None = None
    details: str = ""


def grpc_call(
    address: tuple[str, int],
    authority: str,
    method: str,
    *,
    metadata: Mapping[str, str] | None = None,
    payload: bytes = b"",
    timeout: float = 10.0,
) -> GrpcReply:
    """One unary call of `method` (`/pkg.Service/Method`) over plaintext h2 with `:authority`."""
    options = [("grpc.default_authority", authority), ("grpc.enable_retries", 0)]
    with grpc.insecure_channel(f"{address[0]}:{address[1]}", options=options) as channel:
        stub = channel.unary_unary(method)
        try:
            raw = stub(payload, timeout=timeout, metadata=tuple((metadata or {}).items()))
        except grpc.RpcError as error:
            return GrpcReply(code=error.code(), details=error.details() or "")
    return GrpcReply(code=grpc.StatusCode.OK, body=json.loads(raw))


def tcp_exchange(address: tuple[str, int], line: bytes, *, timeout: float = 5.0) -> bytes:
    """Connect, send one line, return the one line that comes back (b"" if the peer closed)."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(line.rstrip(b"\n") + b"\n")
        received = b""
        while not received.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
        return received
