"""Outbound capture on loopback without iptables: the app names its original destination in a PROXY header.

In a task, iptables REDIRECTs every outbound connection to the egress listener and Envoy's
`original_dst` listener filter reads where it was going (SO_ORIGINAL_DST).  Here no NAT
table can be touched, so the test sidecar's egress listener also runs the `proxy_protocol`
listener filter, and a captured connection starts with a PROXY v1 line naming the
destination.  Envoy then holds exactly what the REDIRECT would have given it: the restored
local address that filter chains match on (destination port, then TLS inspection) and that
the ORIGINAL_DST passthrough cluster connects to.  Connections without the line (an app
calling its sidecar directly) are served as before.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.extensions.filters.listener.proxy_protocol.v3 import proxy_protocol_pb2
from meshplane.graph import names
from meshplane.model.ids import ProxyId
from meshplane.model.state import MeshState
from meshplane.translate.core import typed
from support import Lab, Sidecar, sidecar_bootstrap

_PROXY_PROTOCOL = "envoy.filters.listener.proxy_protocol"


def with_capture(bootstrap: bootstrap_pb2.Bootstrap) -> bootstrap_pb2.Bootstrap:
    """The egress listener restores a connection's original destination from its PROXY line,
    before TLS inspection (which must see the bytes after it)."""
    egress = next(li for li in bootstrap.static_resources.listeners if li.name == names.egress_listener())
    config = proxy_protocol_pb2.ProxyProtocol(allow_requests_without_proxy_protocol=True)
    filters = list(egress.listener_filters)
    at = next(i for i, f in enumerate(filters) if f.name == "envoy.filters.listener.original_dst") + 1
    filters.insert(at, lc.ListenerFilter(name=_PROXY_PROTOCOL, typed_config=typed(config)))
    del egress.listener_filters[:]
    egress.listener_filters.extend(filters)
    return bootstrap


def capturing_sidecar(lab: Lab, state: MeshState, proxy: ProxyId, address: str) -> Sidecar:
    """`Lab.sidecar`, with the egress capture emulation."""
    bootstrap = with_capture(sidecar_bootstrap(state, proxy, address))
    envoy = lab.runner.start(bootstrap, name=f"{proxy.name}@{address}")
    return Sidecar(proxy, address, envoy)


@contextlib.contextmanager
def captured(sidecar: Sidecar, destination: tuple[str, int], *, timeout: float = 5.0) -> Iterator[socket.socket]:
    """A connection the app made to `destination`, as the sidecar's egress listener receives it."""
    with socket.create_connection(sidecar.egress, timeout=timeout) as sock:
        source, source_port = sock.getsockname()[:2]
        host, port = destination
        sock.sendall(f"PROXY TCP4 {source} {host} {source_port} {port}\r\n".encode())
        yield sock


@dataclass(frozen=True)
class Reading:
    """What came back on a connection: the bytes, whether the peer closed it, and when."""

    data: bytes
    closed: bool
    elapsed: float


def read_until(sock: socket.socket, end: bytes = b"\n", *, timeout: float = 5.0) -> Reading:
    """Read until `end` arrives, the peer closes, or `timeout` passes."""
    started = time.monotonic()
    sock.settimeout(timeout)
    data = b""
    closed = False
    while not data.endswith(end):
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    return Reading(data, closed, time.monotonic() - started)
