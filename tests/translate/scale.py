"""Large generated meshes for the scoping and speed measurements."""

from __future__ import annotations

from meshplane.model.state import MeshState
from support import MeshBuilder, listener


def ring_mesh(nodes: int, backends: int, *, name: str = "scale", hub_backends: int = 0) -> MeshState:
    """`nodes` virtual nodes, each providing `svc<i>.local` and calling the next `backends` services.

    With `hub_backends`, an extra node `hub` declares that many services (an unscoped caller).
    """
    builder = MeshBuilder(name)
    for i in range(nodes):
        called = tuple(f"svc{(i + k) % nodes}.local" for k in range(1, backends + 1))
        builder.node(f"n{i}", listener(8080), backends=called)
        builder.service(f"svc{i}.local", node=f"n{i}")
        builder.endpoint(f"n{i}", f"10.{i // 250}.{i % 250}.1")
    if hub_backends:
        builder.node("hub", listener(8080), backends=tuple(f"svc{i}.local" for i in range(hub_backends)))
    return builder.build()
