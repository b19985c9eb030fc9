"""Map xDS types to their protobuf message classes, imported lazily."""

from __future__ import annotations

from google.protobuf.message import Message

from meshplane.snapshot.types import XdsType


def message_class(kind: XdsType) -> type[Message]:
    if kind is XdsType.CLUSTERS:
        from envoy.config.cluster.v3.cluster_pb2 import Cluster

        return Cluster
    if kind is XdsType.ENDPOINTS:
        from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment

        return ClusterLoadAssignment
    if kind is XdsType.LISTENERS:
        from envoy.config.listener.v3.listener_pb2 import Listener

        return Listener
    if kind is XdsType.ROUTES:
        from envoy.config.route.v3.route_pb2 import RouteConfiguration

        return RouteConfiguration
    from envoy.extensions.transport_sockets.tls.v3.secret_pb2 import Secret

    return Secret
