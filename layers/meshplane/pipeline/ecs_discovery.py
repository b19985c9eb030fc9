"""Apply one ECS task (from a Task State Change event or the reconcile) to the endpoint store."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from meshplane.model.addresses import InvalidAddress
from meshplane.model.state import Endpoint
from meshplane.pipeline.ecs import Change, TaskDetail, TaskEvent, change_of, endpoint_of
from meshplane.pipeline.ecs_mapping import TaskMapper
from meshplane.pipeline.telemetry import Telemetry
from meshplane.store.endpoints import EndpointStore, NodeRef, Outcome

Known = Callable[[NodeRef, Endpoint | None], bool]

DETAIL_TYPE = "ECS Task State Change"


class NotATaskEvent(ValueError):
    """The record is not an ECS Task State Change: a routing mistake, sent to the DLQ."""


def apply_task_event(raw: Mapping[str, Any], mapper: TaskMapper, endpoints: EndpointStore,
                     telemetry: Telemetry) -> dict[str, Any]:
    """Returns a JSON-ready summary (it is what the idempotency record stores)."""
    if raw.get("detail-type") != DETAIL_TYPE or raw.get("source") != "aws.ecs":
        raise NotATaskEvent(f"expected aws.ecs {DETAIL_TYPE!r}, got {raw.get('source')!r} {raw.get('detail-type')!r}")
    return apply_task(TaskEvent.model_validate(raw).detail, mapper, endpoints, telemetry)


def _never_known(ref: NodeRef, endpoint: Endpoint | None) -> bool:
    return False


def apply_task(task: TaskDetail, mapper: TaskMapper, endpoints: EndpointStore, telemetry: Telemetry,
               known: Known = _never_known) -> dict[str, Any]:
    """Map a task to its nodes and write its endpoint (or tombstone) under the ordering guard.

    `known(ref, endpoint)` says the store already holds exactly that: the reconcile
    passes it so an unchanged task costs no write.  A task whose address no Envoy would
    accept writes nothing: it is counted (`EndpointsRejected`) and logged, and the event
    itself succeeds, since a retry would only read the same address again.
    """
    change = change_of(task)
    order = task.order
    summary: dict[str, Any] = {"task": task.task_id, "change": change.value,
                               "order": {"version": order.version, "updatedAt": order.updated_at}, "nodes": {}}
    if change is Change.NONE:
        return summary
    nodes = mapper.nodes_of(task)
    if not nodes:
        telemetry.count("TasksUnmapped")
        telemetry.logger.info("task maps to no virtual node", extra={"task": task.task_arn, "group": task.group})
        return summary
    for node in nodes:
        endpoint = None
        if change is Change.UP:
            try:
                endpoint = endpoint_of(task, node.listener_ports, mapper.host_address)
            except InvalidAddress as invalid:
                telemetry.count("EndpointsRejected")
                telemetry.logger.warning("task address refused: nothing stored",
                                         extra={"task": task.task_arn, "node": node.ref.node, "reason": str(invalid)})
                summary["nodes"][f"{node.ref.mesh}/{node.ref.node}"] = "rejected"
                continue
            if endpoint is None:
                telemetry.count("TasksUnaddressable")
                telemetry.logger.warning("running task has no address for the node's listeners",
                                         extra={"task": task.task_arn, "node": node.ref.node})
                continue
        name = f"{node.ref.mesh}/{node.ref.node}"
        if known(node.ref, endpoint):
            summary["nodes"][name] = "unchanged"
            continue
        with telemetry.traced("dynamodb.apply_endpoint"):
            result = endpoints.apply_ecs(node.ref, endpoint, instance_id=task.task_id, order=order)
        if result is Outcome.STALE:
            telemetry.count("EventsDeduplicated")
        summary["nodes"][name] = result.value
    return summary
