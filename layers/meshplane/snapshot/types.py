"""xDS resource types: short names, type URLs and the order Envoy must receive them in."""

from __future__ import annotations

from enum import Enum


class XdsType(str, Enum):
    """The five resource types of a per-proxy snapshot, in warming order.

    Clusters go before endpoints and listeners before routes, so that Envoy
    never warms a cluster or listener whose dependents it has not yet been sent.
    """

    CLUSTERS = "clusters"
    ENDPOINTS = "endpoints"
    LISTENERS = "listeners"
    ROUTES = "routes"
    SECRETS = "secrets"

    @property
    def type_url(self) -> str:
        return TYPE_URLS[self]

    @classmethod
    def from_type_url(cls, type_url: str) -> XdsType:
        try:
            return _BY_URL[type_url]
        except KeyError:
            raise ValueError(f"unsupported xDS type URL: {type_url!r}") from None


TYPE_URLS: dict[XdsType, str] = {
    XdsType.CLUSTERS: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    XdsType.ENDPOINTS: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
    XdsType.LISTENERS: "type.googleapis.com/envoy.config.listener.v3.Listener",
    XdsType.ROUTES: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
    XdsType.SECRETS: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
}
_BY_URL = {url: kind for kind, url in TYPE_URLS.items()}

# Envoy's send order for a full push: CDS, EDS, LDS, RDS, with SDS first so that
# clusters and listeners referencing secrets warm immediately.
SEND_ORDER: tuple[XdsType, ...] = (
    XdsType.SECRETS,
    XdsType.CLUSTERS,
    XdsType.ENDPOINTS,
    XdsType.LISTENERS,
    XdsType.ROUTES,
)
