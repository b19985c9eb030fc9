"""CloudTrail-via-EventBridge Cloud Map calls: refresh the named service, never trust the payload.

CloudTrail delivery is best-effort and the event only says *which* service was
touched; the refresh re-discovers that service so the result is always what Cloud
Map holds now.  The scheduled reconcile covers events that never arrive.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from meshplane.pipeline.cloudmap import CloudMapDiscovery
from meshplane.pipeline.directory import NodeInfo
from meshplane.pipeline.telemetry import Telemetry

ServiceNames = Callable[[str], "tuple[str, str] | None"]  # Cloud Map service id -> (namespace, service)
NodesOfService = Callable[[str, str], "list[NodeInfo]"]  # (namespace, service) -> the nodes that discover it

EVENT_NAMES = frozenset({"RegisterInstance", "DeregisterInstance", "UpdateInstanceCustomHealthStatus"})


class NotACloudMapCall(ValueError):
    """Not a CloudTrail record of a Cloud Map instance call: sent to the DLQ."""


def service_id_of(raw: Mapping[str, Any]) -> str:
    detail = raw.get("detail")
    if raw.get("source") != "aws.servicediscovery" or not isinstance(detail, Mapping):
        raise NotACloudMapCall(f"unexpected source {raw.get('source')!r}")
    if detail.get("eventName") not in EVENT_NAMES:
        raise NotACloudMapCall(f"unexpected eventName {detail.get('eventName')!r}")
    params = detail.get("requestParameters")
    service_id = params.get("serviceId") if isinstance(params, Mapping) else None
    if not isinstance(service_id, str) or not service_id:
        raise NotACloudMapCall("requestParameters.serviceId missing")
    return service_id


def refresh_for_call(raw: Mapping[str, Any], nodes_of: NodesOfService, names: ServiceNames,
                     discovery: CloudMapDiscovery, telemetry: Telemetry) -> dict[str, Any]:
    """`names` resolves the event's service id (TaskMapper.cloud_map_service); `nodes_of` reads the
    nodes that discover that service (`NodeReader.for_cloud_map`)."""
    service_id = service_id_of(raw)
    named = names(service_id)
    summary: dict[str, Any] = {"serviceId": service_id, "event": raw["detail"]["eventName"], "changed": []}
    if named is None:
        telemetry.logger.info("Cloud Map service no longer exists", extra={"serviceId": service_id})
        return summary
    for node in nodes_of(*named):
        with telemetry.traced("cloudmap.refresh"):
            if discovery.refresh(node):
                summary["changed"].append(f"{node.ref.mesh}/{node.ref.node}")
    return summary
