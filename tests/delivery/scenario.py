"""A small mesh for delivery tests: `front` calls `back.svc`, served by back-v1 or back-v2.

The backends' apps are reached directly (endpoint port 8080), so each test runs one
Envoy — the `front` sidecar under test — and all traffic goes through it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from meshplane.model.ids import Kind, ProxyId
from meshplane.snapshot.snapshot import Snapshot
from meshplane.translate import translate
from support import Lab, MeshBuilder, listener, target

SERVICE = "back.svc"
APP_PORT = 8080


@dataclass
class Scenario:
    lab: Lab
    mesh: str = field(default_factory=lambda: f"deliv-{uuid.uuid4().hex[:8]}")
    backends: dict[str, list[str]] = field(default_factory=dict)  # node -> app addresses
    route_to: str = "back-v1"
    listener_extra: dict[str, Any] = field(default_factory=dict)  # camelCase listener members of back-v1 and back-v2

    @property
    def front(self) -> ProxyId:
        return ProxyId(self.mesh, Kind.VIRTUAL_NODE, "front")

    @classmethod
    def two_versions(cls, lab: Lab) -> Scenario:
        """back-v1 and back-v2 each with one running app; routes go to back-v1 until told otherwise."""
        scenario = cls(lab)
        scenario.start_app("back-v1")
        scenario.start_app("back-v2")
        return scenario

    def start_app(self, node: str) -> str:
        """Start one more instance (an HTTP app answering with `node`) of a backend node."""
        address = self.lab.address()
        self.lab.http_app(node, address, APP_PORT)
        self.backends.setdefault(node, []).append(address)
        return address

    def snapshot(self) -> Snapshot:
        mesh = MeshBuilder(self.mesh).node("front", backends=(SERVICE,))
        for node in ("back-v1", "back-v2"):
            mesh.node(node, listener(APP_PORT, **self.listener_extra))
            for address in self.backends.get(node, []):
                mesh.endpoint(node, address, port=APP_PORT)
        mesh.router("back-router", APP_PORT)
        route = {"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [target(self.route_to)]}}}
        mesh.route("back-router", "all", route)
        mesh.service(SERVICE, router="back-router")
        return translate(mesh.build(), self.front)
