"""Concise mesh builders and the `Lab`: real sidecars and apps for a mesh, on private loopback addresses.

A test writes App Mesh specs as camelCase dicts (exactly what `Describe*` returns),
places instances of virtual nodes on fresh 127.77.x.y addresses, starts their apps
and sidecars, and talks to a caller's egress listener.  Every instance is reached by
callers at `<ip>:15000` (its sidecar's ingress), so endpoints carry `port=15000`; its
app listens on `<ip>:<listener port>`, where the sidecar's ingress cluster points.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar

from meshplane.model import shapes
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.state import Endpoint, MeshState

from .envoy import Envoy, EnvoyRunner, validate
from .ports import LoopbackPool, loopback_pool
from .upstreams import GrpcUpstream, HttpUpstream, TcpEchoUpstream

INGRESS_PORT = 15000
EGRESS_PORT = 15001
ACCOUNT = "111122223333"
REGION = "us-west-2"
Spec = Mapping[str, Any]
Server = TypeVar("Server", HttpUpstream, GrpcUpstream, TcpEchoUpstream)


def listener(port: int, protocol: str = "http", **extra: Any) -> dict[str, Any]:
    """A virtual node listener dict; `extra` holds camelCase members (healthCheck, tls, ...)."""
    return {"portMapping": {"port": port, "protocol": protocol}, **extra}


def target(node: str, weight: int = 1, port: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"virtualNode": node, "weight": weight}
    if port is not None:
        out["port"] = port
    return out


class MeshBuilder:
    """Accumulates resources of one mesh and `build()`s the validated `MeshState`."""

    def __init__(self, name: str, *, egress: str = "DROP_ALL") -> None:
        self.name = name
        self.egress = egress
        self._nodes: dict[str, Spec] = {}
        self._services: dict[str, Spec] = {}
        self._routers: dict[str, Spec] = {}
        self._routes: dict[tuple[str, str], Spec] = {}
        self._gateways: dict[str, Spec] = {}
        self._gateway_routes: dict[tuple[str, str], Spec] = {}
        self._endpoints: dict[str, list[Endpoint]] = {}
        self._ids = itertools.count(1)

    def node(self, name: str, *listeners: Spec, backends: tuple[str, ...] = (), **spec: Any) -> Self:
        """A virtual node with `listeners` and backends by virtual service name; `spec` adds camelCase members."""
        body: dict[str, Any] = dict(spec)
        if listeners:
            body["listeners"] = list(listeners)
        if backends:
            body["backends"] = [{"virtualService": {"virtualServiceName": b}} for b in backends]
        self._nodes[name] = body
        return self

    def service(self, name: str, *, node: str | None = None, router: str | None = None) -> Self:
        provider: dict[str, Any] = {}
        if node is not None:
            provider = {"virtualNode": {"virtualNodeName": node}}
        elif router is not None:
            provider = {"virtualRouter": {"virtualRouterName": router}}
        self._services[name] = {"provider": provider} if provider else {}
        return self

    def router(self, name: str, *ports: int | tuple[int, str]) -> Self:
        """A virtual router listening on `ports` (a port, or `(port, protocol)`; http by default)."""
        mappings = [p if isinstance(p, tuple) else (p, "http") for p in ports]
        self._routers[name] = {"listeners": [{"portMapping": {"port": p, "protocol": proto}} for p, proto in mappings]}
        return self

    def route(self, router: str, name: str, spec: Spec) -> Self:
        self._routes[(router, name)] = spec
        return self

    def gateway(self, name: str, spec: Spec) -> Self:
        self._gateways[name] = spec
        return self

    def gateway_route(self, gateway: str, name: str, spec: Spec) -> Self:
        self._gateway_routes[(gateway, name)] = spec
        return self

    def endpoint(self, node: str, address: str, port: int | None = INGRESS_PORT, **extra: Any) -> Self:
        """An instance of `node` at `address` (reached on its sidecar's ingress port by default)."""
        instance = Endpoint(instance_id=f"{node}-{next(self._ids)}", address=address, port=port, **extra)
        self._endpoints.setdefault(node, []).append(instance)
        return self

    def build(self) -> MeshState:
        mesh = self.name
        return MeshState(
            mesh=shapes.MeshData.model_validate(
                {
                    "meshName": mesh,
                    "metadata": self._metadata(f"mesh/{mesh}"),
                    "spec": {"egressFilter": {"type": self.egress}},
                    "status": {"status": "ACTIVE"},
                }
            ),
            virtual_nodes={
                n: shapes.VirtualNodeData.model_validate(self._data(f"virtualNode/{n}", spec, virtualNodeName=n))
                for n, spec in self._nodes.items()
            },
            virtual_services={
                n: shapes.VirtualServiceData.model_validate(
                    self._data(f"virtualService/{n}", spec, virtualServiceName=n)
                )
                for n, spec in self._services.items()
            },
            virtual_routers={
                n: shapes.VirtualRouterData.model_validate(self._data(f"virtualRouter/{n}", spec, virtualRouterName=n))
                for n, spec in self._routers.items()
            },
            routes={
                (r, n): shapes.RouteData.model_validate(
                    self._data(f"virtualRouter/{r}/route/{n}", spec, virtualRouterName=r, routeName=n)
                )
                for (r, n), spec in self._routes.items()
            },
            virtual_gateways={
                n: shapes.VirtualGatewayData.model_validate(
                    self._data(f"virtualGateway/{n}", spec, virtualGatewayName=n)
                )
                for n, spec in self._gateways.items()
            },
            gateway_routes={
                (g, n): shapes.GatewayRouteData.model_validate(
                    self._data(f"virtualGateway/{g}/gatewayRoute/{n}", spec, virtualGatewayName=g, gatewayRouteName=n)
                )
                for (g, n), spec in self._gateway_routes.items()
            },
            endpoints={n: tuple(eps) for n, eps in self._endpoints.items()},
        )

    def _data(self, path: str, spec: Spec, **names: str) -> dict[str, Any]:
        return {
            "meshName": self.name,
            "metadata": self._metadata(f"mesh/{self.name}/{path}"),
            "spec": spec,
            "status": {"status": "ACTIVE"},
            **names,
        }

    def _metadata(self, path: str) -> dict[str, Any]:
        now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        return {
            "arn": f"arn:aws:appmesh:{REGION}:{ACCOUNT}:{path}",
            "uid": f"uid-{next(self._ids)}",
            "version": 1,
            "createdAt": now,
            "lastUpdatedAt": now,
            "meshOwner": ACCOUNT,
            "resourceOwner": ACCOUNT,
        }


@dataclass
class Sidecar:
    """One running proxy bound to its own loopback address."""

    proxy: ProxyId
    ip: str
    envoy: Envoy

    @property
    def ingress(self) -> tuple[str, int]:
        return self.ip, INGRESS_PORT

    @property
    def egress(self) -> tuple[str, int]:
        return self.ip, EGRESS_PORT

    def port(self, port: int) -> tuple[str, int]:
        """Any other listener of this proxy, e.g. a virtual gateway's listener port."""
        return self.ip, port


@dataclass
class Lab:
    """Owns every address, app server and Envoy a test module starts, and releases them on `close()`."""

    workdir: Path
    pool: LoopbackPool = field(default_factory=loopback_pool)
    runner: EnvoyRunner = field(init=False)
    _addresses: list[str] = field(default_factory=list)
    _servers: list[HttpUpstream | GrpcUpstream | TcpEchoUpstream] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.runner = EnvoyRunner(self.workdir / "envoys")

    def address(self) -> str:
        """A fresh private loopback address with :15000 and :15001 free."""
        address = self.pool.allocate()
        self._addresses.append(address)
        return address

    def place(self, mesh: MeshBuilder, node: str, *, sidecar: bool = True) -> str:
        """A new instance of `node` on a fresh address.

        With `sidecar` (the App Mesh way) callers reach it at `<ip>:15000`, so start its
        sidecar with `Lab.sidecar`; without, callers reach its app directly on the
        listener port, which keeps tests of caller-side features down to one Envoy.
        """
        address = self.address()
        mesh.endpoint(node, address, INGRESS_PORT if sidecar else None)
        return address

    def http_app(self, name: str, address: str, port: int, **kwargs: Any) -> HttpUpstream:
        return self._serve(HttpUpstream(name, address, port, **kwargs))

    def direct_http_app(self, mesh: MeshBuilder, node: str, name: str, port: int = 8080) -> HttpUpstream:
        """An HTTP app answering as `name`, placed as a sidecar-less endpoint of `node` on its listener `port`."""
        return self.http_app(name, self.place(mesh, node, sidecar=False), port)

    def grpc_app(self, name: str, address: str, port: int) -> GrpcUpstream:
        return self._serve(GrpcUpstream(name, address, port))

    def tcp_app(self, name: str, address: str, port: int) -> TcpEchoUpstream:
        return self._serve(TcpEchoUpstream(name, address, port))

    def _serve(self, server: Server) -> Server:
        server.start()
        self._servers.append(server)
        return server

    def sidecar(self, state: MeshState, name: str, address: str, *, gateway: bool = False, **start: Any) -> Sidecar:
        """Translate the proxy `name` of `state`, bind it to `address`, start Envoy and wait until it is ready."""
        proxy = ProxyId(state.name, Kind.VIRTUAL_GATEWAY if gateway else Kind.VIRTUAL_NODE, name)
        bootstrap = sidecar_bootstrap(state, proxy, address)
        envoy = self.runner.start(bootstrap, name=f"{name}@{address}", **start)
        return Sidecar(proxy, address, envoy)

    def close(self) -> None:
        self.runner.close()
        for server in reversed(self._servers):
            server.close()
        for address in self._addresses:
            self.pool.release(address)
        self._servers.clear()
        self._addresses.clear()

    @classmethod
    @contextlib.contextmanager
    def open(cls, workdir: Path) -> Iterator[Lab]:
        lab = cls(workdir)
        try:
            yield lab
        finally:
            lab.close()


def sidecar_bootstrap(state: MeshState, proxy: ProxyId, address: str) -> Any:
    """The translator's static bootstrap for `proxy`, bound to `address` with admin on a free port."""
    from meshplane.translate import translate
    from meshplane.translate.static import inline_bootstrap

    snapshot = translate(state, proxy)
    return inline_bootstrap(snapshot, admin_address=address, admin_port=0, bind_address=address, node_id=proxy.path)


def validate_sidecar(state: MeshState, proxy: ProxyId, workdir: Path) -> None:
    """`envoy --mode validate` on the proxy's bootstrap; raises EnvoyError with Envoy's reason."""
    validate(sidecar_bootstrap(state, proxy, "127.0.0.1"), workdir)
