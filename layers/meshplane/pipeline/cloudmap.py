"""Cloud Map discovery: a node's instances from `DiscoverInstances`, written where they differ.

Which services to re-read is the caller's choice: a CloudTrail event names one, and the
reconcile asks Cloud Map which services had instance operations since its last pass
(`cloudmap_operations`), so no billed call is made for a service nothing touched.

The node's `awsCloudMap.attributes` become `QueryParameters` (every one must
match, as in App Mesh).  `HealthStatus` is `ALL`: UNHEALTHY instances are kept as
unhealthy endpoints, so Envoy stops sending to them without losing them.  The
address comes from `AWS_INSTANCE_IPV4` / `AWS_INSTANCE_IPV6` per the node's (else
the mesh's) `ipPreference`; `AWS_INSTANCE_PORT` sets the port and
`AVAILABILITY_ZONE` the zone.  Cloud Map stores whatever a caller registered, so each
instance is checked here (`model.addresses`): one whose address attribute is not an
address of its family, whose port is not a port, or whose id is longer than Cloud Map
allows is left out and logged (`EndpointsRejected`); the others are discovered as usual.

Emulators: the data-plane calls need `inject_host_prefix=False` (or
`AWS_DISABLE_HOST_PREFIX_INJECTION=true`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from meshplane.model.addresses import Family, InvalidAddress, ip_address, port, shown
from meshplane.model.state import Endpoint
from meshplane.pipeline.directory import NodeInfo
from meshplane.store.endpoints import EndpointStore

if TYPE_CHECKING:
    from meshplane.pipeline.telemetry import Telemetry

MAX_RESULTS = 1000
MAX_INSTANCE_ID = 64  # Cloud Map's own limit; the id keys the endpoint's item
FAMILIES: dict[str, Family] = {"AWS_INSTANCE_IPV4": 4, "AWS_INSTANCE_IPV6": 6}


def _address(attributes: dict[str, str], preference: str) -> str | None:
    v4, v6 = attributes.get("AWS_INSTANCE_IPV4"), attributes.get("AWS_INSTANCE_IPV6")
    if preference == "IPv4_ONLY":
        return v4
    if preference == "IPv6_ONLY":
        return v6
    if preference == "IPv6_PREFERRED":
        return v6 or v4
    return v4 or v6


def endpoint_of(instance: dict[str, Any], preference: str) -> Endpoint | None:
    """One `DiscoverInstances` instance as an endpoint, or None if it has no address of the preferred family.

    Raises `InvalidAddress` for an instance whose id, address attributes or port no Envoy would accept.
    """
    instance_id = instance.get("InstanceId")
    if not isinstance(instance_id, str) or not 0 < len(instance_id) <= MAX_INSTANCE_ID:
        raise InvalidAddress(f"instance id {shown(instance_id)} is not 1 to {MAX_INSTANCE_ID} characters")
    attributes: dict[str, str] = dict(instance.get("Attributes", {}))
    for name, family in FAMILIES.items():
        if name in attributes:
            attributes[name] = ip_address(attributes[name], family)
    address = _address(attributes, preference)
    if not address:
        return None
    listed_port = attributes.get("AWS_INSTANCE_PORT")
    return Endpoint(
        instance_id=instance_id,
        address=address,
        port=None if listed_port is None else port(listed_port),
        healthy=instance.get("HealthStatus") != "UNHEALTHY",
        zone=attributes.get("AVAILABILITY_ZONE"),
        attributes={k: v for k, v in attributes.items() if not k.startswith("AWS_INSTANCE_")},
        source="cloudmap",
    )


class CloudMapDiscovery:
    """Refreshes the endpoints of Cloud Map-discovered nodes; clients and store injected."""

    def __init__(self, servicediscovery: Any, endpoints: EndpointStore, *,
                 telemetry: Telemetry | None = None) -> None:
        """Without `telemetry`, refused instances are logged to this module's logger and not counted."""
        self._sd = servicediscovery
        self._endpoints = endpoints
        self._telemetry = telemetry

    def refresh(self, node: NodeInfo) -> bool:
        """Bring the node's Cloud Map endpoints to what Cloud Map holds now; True if they changed."""
        cloud_map = node.cloud_map
        if cloud_map is None:
            return False
        namespace = {"NamespaceName": cloud_map.namespace_name, "ServiceName": cloud_map.service_name}
        query = {"QueryParameters": {a.key: a.value for a in cloud_map.attributes}} if cloud_map.attributes else {}
        try:
            found = self._sd.discover_instances(**namespace, **query, HealthStatus="ALL", MaxResults=MAX_RESULTS)
        except (self._sd.exceptions.NamespaceNotFound, self._sd.exceptions.ServiceNotFound):
            return self._endpoints.replace_cloudmap(node.ref, ())
        preference = cloud_map.ip_preference or node.mesh_ip_preference or "IPv4_PREFERRED"
        endpoints = [e for e in (self._endpoint(node, i, preference) for i in found.get("Instances", [])) if e]
        return self._endpoints.replace_cloudmap(node.ref, endpoints)

    def _endpoint(self, node: NodeInfo, instance: dict[str, Any], preference: str) -> Endpoint | None:
        try:
            return endpoint_of(instance, preference)
        except InvalidAddress as invalid:
            extra = {"node": f"{node.ref.mesh}/{node.ref.node}", "instance": str(instance.get("InstanceId"))[:64],
                     "reason": str(invalid)}
            if self._telemetry is None:
                logging.getLogger(__name__).warning("Cloud Map instance refused: %s", extra)
            else:
                self._telemetry.count("EndpointsRejected")
                self._telemetry.logger.warning("Cloud Map instance refused: not discovered", extra=extra)
            return None
