"""Mesh `egressFilter`: DROP_ALL refuses a destination the node did not declare, ALLOW_ALL passes it.

Two ways to reach an undeclared destination through the egress listener, both on loopback:
- an app calling its sidecar directly names the destination in `x-envoy-original-dst-host`,
  which the passthrough cluster reads (ORIGINAL_DST with `use_http_header`);
- a captured connection (what iptables hands the listener in a task) names it in a PROXY
  line (`capture.py`), so HTTPS and raw TCP, which have no header, are tested as well.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from meshplane.model.ids import Kind, ProxyId
from support import HttpUpstream, Lab, MeshBuilder, Sidecar, TcpEchoUpstream, TestCA, http_request, listener

from .capture import Reading, captured, capturing_sidecar, read_until
from .servers import BANNER, BannerServer, TlsEchoServer

pytestmark = pytest.mark.envoy

KNOWN = "known.egress.local"
UNDECLARED_PORT = 9099
HTTPS_PORT, TCP_PORT, BANNER_PORT = 9443, 9100, 9125
OUTSIDE_HOST = "outside.example.com"
PROMPT_S = 2.0  # the egress TLS inspector gives a silent client 0.25 s, never Envoy's default 15 s


@dataclass
class Outside:
    """Servers at a loopback address no node declares."""

    http: HttpUpstream
    https: TlsEchoServer
    tcp: TcpEchoUpstream
    banner: BannerServer
    ca: TestCA


@pytest.fixture(scope="module")
def outside(lab: Lab, test_ca: TestCA) -> Iterator[Outside]:
    address = lab.address()
    leaf = test_ca.issue("outside", dns=(OUTSIDE_HOST,))
    https = TlsEchoServer("outside-tls", address, HTTPS_PORT, leaf).start()
    banner = BannerServer("outside-banner", address, BANNER_PORT).start()
    servers = Outside(
        http=lab.http_app("outside", address, UNDECLARED_PORT),
        https=https,
        tcp=lab.tcp_app("outside-tcp", address, TCP_PORT),
        banner=banner,
        ca=test_ca,
    )
    yield servers
    https.close()
    banner.close()


def _client(lab: Lab, egress: str) -> Sidecar:
    mesh = MeshBuilder(f"egress-{egress.lower().replace('_', '-')}", egress=egress)
    mesh.node("client", backends=(KNOWN,))
    mesh.node("known", listener(8080))
    mesh.service(KNOWN, node="known")
    lab.direct_http_app(mesh, "known", f"known-{egress}")
    state = mesh.build()
    return capturing_sidecar(lab, state, ProxyId(state.name, Kind.VIRTUAL_NODE, "client"), lab.address())


@pytest.fixture(scope="module")
def drop_all(lab: Lab) -> Sidecar:
    return _client(lab, "DROP_ALL")


@pytest.fixture(scope="module")
def allow_all(lab: Lab) -> Sidecar:
    return _client(lab, "ALLOW_ALL")


# -- an app calling its sidecar directly, destination in a header ------------------------------


def _undeclared(client: Sidecar, outside: Outside) -> int:
    host, port = outside.http.address
    reply = http_request(
        client.egress,
        f"undeclared.example.com:{port}",
        "/data",
        headers={"x-envoy-original-dst-host": f"{host}:{port}"},
    )
    return reply.status if reply.upstream != "outside" else 1000 + reply.status


def test_drop_all_refuses_an_undeclared_destination(drop_all: Sidecar, outside: Outside) -> None:
    before = outside.http.hits()
    status = _undeclared(drop_all, outside)
    assert status == 404
    assert outside.http.hits() == before


def test_allow_all_passes_an_undeclared_destination_through(allow_all: Sidecar, outside: Outside) -> None:
    before = outside.http.hits()
    assert _undeclared(allow_all, outside) == 1200  # answered 200 by the outside server itself
    assert outside.http.hits() == before + 1


@pytest.mark.parametrize("mode", ["drop_all", "allow_all"])
def test_declared_backend_works_in_both_modes(mode: str, request: pytest.FixtureRequest) -> None:
    client: Sidecar = request.getfixturevalue(mode)
    reply = http_request(client.egress, f"{KNOWN}:8080", "/")
    assert reply.status == 200 and (reply.upstream or "").startswith("known-")


# -- captured connections: whatever the app speaks -----------------------------------------------


def _https(client: Sidecar, outside: Outside) -> bytes:
    context = ssl.create_default_context(cafile=str(outside.ca.cert_path))
    with captured(client, outside.https.address) as raw, context.wrap_socket(raw, server_hostname=OUTSIDE_HOST) as tls:
        tls.sendall(b"over tls\n")
        return read_until(tls).data


def test_allow_all_passes_https_to_an_undeclared_destination(allow_all: Sidecar, outside: Outside) -> None:
    assert _https(allow_all, outside) == b"outside-tls over tls\n"
    # The app's own TLS went through untouched: the server saw the name the app asked for.
    assert outside.https.server_names[-1] == OUTSIDE_HOST


def test_allow_all_passes_client_first_tcp_to_an_undeclared_destination(allow_all: Sidecar, outside: Outside) -> None:
    with captured(allow_all, outside.tcp.address) as sock:
        sock.sendall(b"hello there\n")
        assert read_until(sock).data == b"outside-tcp hello there\n"


def test_allow_all_passes_server_first_tcp_to_an_undeclared_destination(allow_all: Sidecar, outside: Outside) -> None:
    with captured(allow_all, outside.banner.address) as sock:
        reading = read_until(sock)
    assert reading.data == BANNER
    assert reading.elapsed < PROMPT_S, f"banner took {reading.elapsed:.2f}s"


def _client_hello(server_name: str) -> bytes:
    """The first flight of a real TLS client, to send on a raw socket."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname=server_name)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def _silent(sock: socket.socket) -> Reading:
    return read_until(sock)


def _hello(sock: socket.socket) -> Reading:
    sock.sendall(_client_hello(OUTSIDE_HOST))
    return read_until(sock)


def _line(sock: socket.socket) -> Reading:
    sock.sendall(b"hello there\n")
    return read_until(sock)


_UNDECLARED: dict[str, tuple[str, Callable[[socket.socket], Reading]]] = {
    "https": ("https", _hello),
    "client-first-tcp": ("tcp", _line),
    "server-first-tcp": ("banner", _silent),
}


@pytest.mark.parametrize("kind", sorted(_UNDECLARED))
def test_drop_all_closes_an_undeclared_connection_unanswered(drop_all: Sidecar, outside: Outside, kind: str) -> None:
    server_attr, speak = _UNDECLARED[kind]
    server = getattr(outside, server_attr)
    before = server.connections
    with captured(drop_all, server.address) as sock:
        reading = speak(sock)
    # Closed by Envoy without a byte (no HTTP 400 from a parser that was never meant for it), and promptly.
    assert (reading.data, reading.closed) == (b"", True)
    assert reading.elapsed < PROMPT_S, f"closed after {reading.elapsed:.2f}s"
    assert server.connections == before


def _captured_http(client: Sidecar, destination: tuple[str, int], host: str) -> tuple[int, str | None]:
    with captured(client, destination) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        head = read_until(sock, b"\r\n\r\n").data.decode("latin-1")
    lines = head.split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers.get("x-upstream-name")


@pytest.mark.parametrize("mode", ["drop_all", "allow_all"])
def test_declared_backend_is_routed_when_captured(mode: str, request: pytest.FixtureRequest) -> None:
    client: Sidecar = request.getfixturevalue(mode)
    # The virtual service's own address is nobody's: the declared port's HTTP chain routes by Host.
    status, upstream = _captured_http(client, ("127.0.0.1", 8080), f"{KNOWN}:8080")
    assert status == 200 and (upstream or "").startswith("known-")
