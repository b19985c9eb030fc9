"""Map xDS types to their protobuf message classes, imported lazily."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from meshplane.snapshot.types import XdsType


def message_class(kind: XdsType) -> type[Message]:
    if kind is XdsType.CLUSTERS:
        from envoy.config.cluster.v3.cluster_pb2 import Cluster

        return _checked(Cluster)
    if kind is XdsType.ENDPOINTS:
        from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment

        return _checked(ClusterLoadAssignment)
    if kind is XdsType.LISTENERS:
        from envoy.config.listener.v3.listener_pb2 import Listener

        return _checked(Listener)
    if kind is XdsType.ROUTES:
        from envoy.config.route.v3.route_pb2 import RouteConfiguration

        return _checked(RouteConfiguration)
    from envoy.extensions.transport_sockets.tls.v3.secret_pb2 import Secret

    return _checked(Secret)


def _checked(cls: Any) -> type[Message]:
    """`cls` as the message class it is (the generated Envoy modules carry no type information)."""
    if isinstance(cls, type) and issubclass(cls, Message):
        return cls
    raise TypeError(f"{cls!r} is not a protobuf message class")
