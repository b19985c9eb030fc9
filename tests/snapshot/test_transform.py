"""The snapshot transforms and the descriptor walker under them.

The walker finds wanted messages wherever they sit, `Any`s included, repacks only what a
visit changed, and never unpacks an `Any` that cannot hold a wanted message.  The loopback
rebind moves a proxy's listeners and its own app (IPv4 or IPv6 loopback) onto its bind
address, hashing again only the two types it rewrites.
"""

from __future__ import annotations

import pytest
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.extensions.filters.listener.original_dst.v3.original_dst_pb2 import OriginalDst
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from google.protobuf import any_pb2, struct_pb2
from google.protobuf.message import DecodeError, Message
from meshplane.model.ids import Kind, ProxyId
from meshplane.snapshot.snapshot import PackedResources, Snapshot
from meshplane.snapshot.transform import bind_to
from meshplane.snapshot.types import XdsType
from meshplane.snapshot.walk import walk
from meshplane.translate import translate
from support import MeshBuilder, listener

RDS = frozenset({hcm.Rds.DESCRIPTOR.full_name})
BIND = "127.77.0.9"


def _listener(*configs: any_pb2.Any) -> Listener:
    out = Listener(name="l")
    for config in configs:
        out.filter_chains.add().filters.add(name="f").typed_config.CopyFrom(config)
    return out


def _packed(message: Message) -> any_pb2.Any:
    out = any_pb2.Any()
    out.Pack(message, deterministic=True)
    return out


def _manager(route: str) -> any_pb2.Any:
    """A connection manager whose fields are stored out of number order, as no repack would write them."""
    manager = hcm.HttpConnectionManager
    parts = [manager(rds=hcm.Rds(route_config_name=route)), manager(stat_prefix="in")]
    packed = any_pb2.Any(type_url=f"type.googleapis.com/{hcm.HttpConnectionManager.DESCRIPTOR.full_name}",
                         value=b"".join(part.SerializeToString() for part in parts))  # fmt: skip
    assert packed.value != _packed(hcm.HttpConnectionManager.FromString(packed.value)).value
    return packed


def test_the_walker_finds_messages_inside_anys_and_repacks_only_what_a_visit_changed() -> None:
    message = _listener(_manager("a"), _manager("b"))
    before = [chain.filters[0].typed_config.value for chain in message.filter_chains]

    def rename_b(rds: Message) -> bool:
        if rds.route_config_name != "b":  # type: ignore[attr-defined]
            return False
        rds.route_config_name = "b2"  # type: ignore[attr-defined]
        return True

    assert walk(message, RDS, rename_b)
    after = [chain.filters[0].typed_config for chain in message.filter_chains]
    assert after[0].value == before[0], "an Any nothing changed in is left as it was"
    manager = hcm.HttpConnectionManager()
    assert after[1].Unpack(manager) and manager.rds.route_config_name == "b2" and manager.stat_prefix == "in"
    assert not walk(message, RDS, lambda _rds: False)


def test_the_walker_unpacks_no_any_that_cannot_hold_a_wanted_message() -> None:
    garbage = b"\xff\xff\xff"
    cannot_hold = any_pb2.Any(type_url=f"type.googleapis.com/{OriginalDst.DESCRIPTOR.full_name}", value=garbage)
    unknown = any_pb2.Any(type_url="type.googleapis.com/example.NotImported", value=garbage)
    seen: list[str] = []
    assert not walk(_listener(cannot_hold, unknown, _manager("r")), RDS,
                    lambda rds: bool(seen.append(rds.route_config_name)))  # type: ignore[attr-defined,func-returns-value]  # fmt: skip
    assert seen == ["r"]
    could_hold = any_pb2.Any(type_url=f"type.googleapis.com/{hcm.HttpConnectionManager.DESCRIPTOR.full_name}",
                             value=garbage)  # fmt: skip
    with pytest.raises(DecodeError):  # the same bytes are read where a wanted message may be
        walk(_listener(could_hold), RDS, lambda _rds: False)


def test_the_walker_follows_recursive_types_to_what_they_hold() -> None:
    """Value holds ListValue holds Value: wanted messages deep in a cycle of types are found, and the walk ends."""
    inner = struct_pb2.Value(list_value=struct_pb2.ListValue(values=[struct_pb2.Value(string_value="x")]))
    value = struct_pb2.Value(struct_value=struct_pb2.Struct(fields={"a": inner}))
    found: list[int] = []
    walk(value, frozenset({"google.protobuf.ListValue"}), lambda m: bool(found.append(len(m.values))))  # type: ignore[attr-defined,func-returns-value]
    assert found == [1]


def _proxy(ip_preference: str) -> Snapshot:
    discovery = {"dns": {"hostname": "front.example.com", "ipPreference": ip_preference}}
    state = (
        MeshBuilder("bind")
        .node("front", listener(8080), backends=("back.local",), serviceDiscovery=discovery)
        .node("back", listener(9090))
        .service("back.local", node="back")
        .endpoint("back", "127.0.0.1")
        .build()
    )
    return translate(state, ProxyId("bind", Kind.VIRTUAL_NODE, "front"))


def _addresses(assignment: Message) -> set[str]:
    return {lb.endpoint.address.socket_address.address
            for locality in assignment.endpoints for lb in locality.lb_endpoints}  # type: ignore[attr-defined]  # fmt: skip


def _app(snapshot: Snapshot) -> set[str]:
    return _addresses(snapshot.of(XdsType.CLUSTERS)["cds_ingress_bind_front_http_8080"].load_assignment)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("preference", "app"), [("IPv4_ONLY", "127.0.0.1"), ("IPv6_PREFERRED", "::1")])
def test_bind_to_moves_the_listeners_and_the_proxys_own_app_whichever_loopback_it_is_on(
    preference: str, app: str
) -> None:
    snapshot = _proxy(preference)
    assert _app(snapshot) == {app}
    bound = bind_to(snapshot, BIND)
    assert _app(bound) == {BIND}
    assert {li.address.socket_address.address for li in bound.of(XdsType.LISTENERS).values()} == {BIND}  # type: ignore[attr-defined]
    back = bound.of(XdsType.ENDPOINTS)["cds_egress_bind_back_http_9090"]
    assert _addresses(back) == {"127.0.0.1"}, "another node's endpoints are not this proxy's app"
    assert set(bound.of(XdsType.LISTENERS)) == set(snapshot.of(XdsType.LISTENERS)), "names are kept"


def test_bind_to_hashes_again_only_the_listeners_and_clusters_it_rewrites() -> None:
    stored = Snapshot.loads(_proxy("IPv4_ONLY").to_bytes())
    bound = bind_to(stored, BIND)
    for kind in (XdsType.ENDPOINTS, XdsType.ROUTES, XdsType.SECRETS):
        assert bound.of(kind) is stored.of(kind) and isinstance(bound.of(kind), PackedResources), kind
    typed = Snapshot.build(bound.node_id, {kind: dict(bound.of(kind)) for kind in XdsType})
    assert bound.versions == typed.versions, "the versions a full rebuild would give"
    assert bound.versions[XdsType.ROUTES] == stored.versions[XdsType.ROUTES]
    assert bound.versions[XdsType.LISTENERS] != stored.versions[XdsType.LISTENERS]
