"""The demo's topology: names, ports and instances, decided once and shared by every step."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Literal

from meshplane.localnet.pki import Leaf

APP_PORT = 8080
INGRESS_PORT = 15000  # callers reach an instance at <ip>:15000 (App Mesh ProxyIngressPort)
EGRESS_PORT = 15001  # an app reaches its backends at <own ip>:15001 (App Mesh ProxyEgressPort)
GATEWAY_PORT = 8080
ZONES = ("us-east-1a", "us-east-1b")  # the instances' availability zones (the gateway has none)

Registration = Literal["ecs", "cloudmap"]


@dataclass(frozen=True)
class Instance:
    """One task: an app and its Envoy sidecar sharing one loopback address."""

    node: str  # the virtual node (or gateway) it belongs to
    name: str  # e.g. "green-2"
    version: str
    address: str
    registration: Registration | None  # how the control plane learns about it; None for the gateway
    zone: str | None = None  # its availability zone: the bootstrap's locality and the registration's zone

    @property
    def ingress(self) -> str:
        return f"{self.address}:{INGRESS_PORT}"


@dataclass(frozen=True)
class Plan:
    """Everything named: the mesh, the Cloud Map namespace, the services and their instances."""

    suffix: str
    ca: str = ""  # CA bundle path, set once the CA exists
    certs: dict[str, Leaf] = field(default_factory=dict)

    @classmethod
    def new(cls) -> Plan:
        return cls(suffix=secrets.token_hex(3))

    @property
    def mesh(self) -> str:
        return f"demo-{self.suffix}"

    @property
    def namespace(self) -> str:
        return f"demo-{self.suffix}.local"

    def service(self, name: str) -> str:
        """The virtual service (and Host) name of `front` or `color`."""
        return f"{name}.{self.namespace}"

    @property
    def gateway(self) -> str:
        return "gateway"

    @property
    def router(self) -> str:
        return "color"

    @property
    def route(self) -> str:
        return "color-canary"

    @property
    def node_names(self) -> tuple[str, ...]:
        return ("front", "blue", "green")
