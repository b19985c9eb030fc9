"""Point a snapshot's ADS config sources at files, for file mode.

Listeners name their routes (`Rds.config_source`), clusters their endpoints
(`EdsClusterConfig.eds_config`) and TLS contexts their secrets
(`SdsSecretConfig.sds_config`); these may sit deep inside typed_config `Any`s, so the
walk unpacks and repacks them.  Each ADS source becomes the path source of the one
resource it names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from google.protobuf import any_pb2, symbol_database
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from meshplane.delivery.files import path_source
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType

CONFIG_SOURCE = "envoy.config.core.v3.ConfigSource"

# (containing message, field) -> (type served, field of the container naming the resource)
_SOURCES: dict[tuple[str, str], tuple[XdsType, str]] = {
    ("envoy.extensions.filters.network.http_connection_manager.v3.Rds", "config_source"): (
        XdsType.ROUTES,
        "route_config_name",
    ),
    ("envoy.config.cluster.v3.Cluster.EdsClusterConfig", "eds_config"): (XdsType.ENDPOINTS, "service_name"),
    ("envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig", "sds_config"): (XdsType.SECRETS, "name"),
}


def _walk(message: Message, visit: Callable[[Message, FieldDescriptor, Message], None]) -> None:
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        items = value.values() if field.message_type.GetOptions().map_entry else value
        children = items if field.is_repeated else [value]
        for child in children:
            if not isinstance(child, Message):
                continue
            visit(message, field, child)
            if isinstance(child, any_pb2.Any):
                _walk_any(child, visit)
            else:
                _walk(child, visit)


def _walk_any(packed: any_pb2.Any, visit: Callable[[Message, FieldDescriptor, Message], None]) -> None:
    try:
        cls = symbol_database.Default().GetSymbol(packed.TypeName())
    except KeyError:
        return  # a type we never import cannot hold a config source we generate
    inner = cls()
    packed.Unpack(inner)
    before = inner.SerializeToString(deterministic=True)
    _walk(inner, visit)
    if inner.SerializeToString(deterministic=True) != before:
        packed.Pack(inner, deterministic=True)


def _ensure_types_loaded() -> None:
    """Import the extension protos our translator packs into `Any`s."""
    import envoy.extensions.filters.http.router.v3.router_pb2
    import envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2
    import envoy.extensions.filters.network.tcp_proxy.v3.tcp_proxy_pb2
    import envoy.extensions.transport_sockets.tls.v3.tls_pb2
    import envoy.extensions.upstreams.http.v3.http_protocol_options_pb2  # noqa: F401


def to_files(snapshot: Snapshot, root: Path) -> Snapshot:
    """A copy whose ADS-delivered RDS/EDS/SDS references read per-resource files under `root`."""
    _ensure_types_loaded()

    def visit(parent: Message, field: FieldDescriptor, child: Message) -> None:
        spec = _SOURCES.get((parent.DESCRIPTOR.full_name, field.name))
        if spec is None or child.DESCRIPTOR.full_name != CONFIG_SOURCE or not child.HasField("ads"):
            return
        kind, name_field = spec
        name = getattr(parent, name_field)
        if name:  # an EDS config without service_name is handled by the cluster, which knows its name
            child.CopyFrom(path_source(root, kind, name))

    resources: dict[XdsType, dict[str, Message]] = {}
    for kind in XdsType:
        copies: dict[str, Message] = {}
        for name, message in snapshot.of(kind).items():
            copy = type(message)()
            copy.CopyFrom(message)
            _walk(copy, visit)
            if kind is XdsType.CLUSTERS:
                _eds_by_cluster_name(copy, root)
            copies[name] = copy
        resources[kind] = copies
    return Snapshot.build(snapshot.node_id, resources)


def _eds_by_cluster_name(cluster: Message, root: Path) -> None:
    """An EDS cluster without service_name reads the assignment named like the cluster."""
    eds = cluster.eds_cluster_config  # type: ignore[attr-defined]
    if cluster.HasField("eds_cluster_config") and not eds.service_name and eds.eds_config.HasField("ads"):
        eds.eds_config.CopyFrom(path_source(root, XdsType.ENDPOINTS, cluster.name))  # type: ignore[attr-defined]
