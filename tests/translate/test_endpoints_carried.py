"""An endpoints-only render carries the unchanged assignments as the bytes they were published with."""

from __future__ import annotations

from meshplane.model.ids import Kind, ProxyId
from meshplane.snapshot.snapshot import PackedResources, Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.translate import translate, translate_endpoints
from support import MeshBuilder, listener

MESH = "carried"
FRONT = ProxyId(MESH, Kind.VIRTUAL_NODE, "front")


def test_unchanged_assignments_are_carried_unparsed_and_equal_a_full_render() -> None:
    mesh = MeshBuilder(MESH).node("front", listener(8080), backends=("a.local", "b.local"))
    for node in ("a", "b"):
        mesh.node(node, listener(8080)).service(f"{node}.local", node=node).endpoint(node, f"10.0.0.{len(node)}")
    state = mesh.build()
    published = Snapshot.loads(translate(state, FRONT).to_bytes())
    last = published.of(XdsType.ENDPOINTS)
    assert isinstance(last, PackedResources)
    rendered = translate_endpoints(state, FRONT, last, changed={"a"})
    assert last._typed == {}, "the kept assignment was parsed"
    rebuilt = Snapshot.build(FRONT.path, {**published.resources, XdsType.ENDPOINTS: rendered})
    assert rebuilt.to_bytes() == published.to_bytes()
