"""`meshplane local up` reacts to every change within seconds, not at the next reconcile.

The stacks here reconcile once a minute (the session's `local_stack`, which starts its own
emulator, and a stack against plain moto), so a change published within `BOUND` seconds was
carried by the event path (stream, CloudTrail event), never by the reconcile.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e.test_pipeline_e2e import addresses, snapshot_of
from meshplane.local.harness import LocalStack, start_local_up, stop_local_up

pytestmark = pytest.mark.emulator
BOUND = 2.5  # seconds from the API call to the published snapshot (measured 0.2 to 1.2 s)
EVENTS = Path(__file__).resolve().parents[2] / "events"
LISTENER = {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}


@pytest.fixture(scope="module")
def external_stack(tmp_path_factory: pytest.TempPathFactory, plain_moto: str) -> Iterator[LocalStack]:
    """`local up` against plain moto at AWS_ENDPOINT_URL, whose cancelled transactions rewrite the stream."""
    stack = start_local_up(tmp_path_factory.mktemp("reactions-external"), "--no-ads", endpoint_url=plain_moto)
    try:
        yield stack
    finally:
        stop_local_up(stack)


def _published_within(probe: Callable[[], bool], bound: float, what: str) -> float:
    started = time.monotonic()
    while not probe():
        waited = time.monotonic() - started
        assert waited < bound, f"{what} not published within {bound}s"
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.mark.parametrize("which", ["local_stack", "external_stack"])
def test_after_a_refused_delete_a_new_node_is_published_within_seconds(
    which: str, request: pytest.FixtureRequest
) -> None:
    stack: LocalStack = request.getfixturevalue(which)
    appmesh, mesh = stack.appmesh(), f"refused-{uuid.uuid4().hex[:8]}"
    appmesh.create_mesh(meshName=mesh)
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="first", spec=LISTENER)
    _published_within(lambda: snapshot_of(stack, mesh, "first") is not None, 10, "the first node")
    for attempt in range(2):  # each refusal is a cancelled transaction
        with pytest.raises(appmesh.exceptions.ResourceInUseException):
            appmesh.delete_mesh(meshName=mesh)
        node = f"after-{attempt}"
        appmesh.create_virtual_node(meshName=mesh, virtualNodeName=node, spec=LISTENER)
        took = _published_within(lambda n=node: snapshot_of(stack, mesh, n) is not None, BOUND, node)
        print(f"{which}: {node} published {took:.2f}s after create_virtual_node")


def test_register_instance_alone_reaches_the_callers_snapshot_within_seconds(local_stack: LocalStack) -> None:
    sd, appmesh = local_stack.client("servicediscovery"), local_stack.appmesh()
    namespace_name = f"ns-{uuid.uuid4().hex[:8]}.local"
    sd.create_http_namespace(Name=namespace_name)
    namespace = next(n["Id"] for n in sd.list_namespaces()["Namespaces"] if n["Name"] == namespace_name)
    service = sd.create_service(Name="back", NamespaceId=namespace)["Service"]["Id"]
    mesh = f"cloudmap-{uuid.uuid4().hex[:8]}"
    appmesh.create_mesh(meshName=mesh)
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="back", spec={
        **LISTENER, "serviceDiscovery": {"awsCloudMap": {"namespaceName": namespace_name, "serviceName": "back"}}})
    appmesh.create_virtual_service(meshName=mesh, virtualServiceName="back.svc",
                                   spec={"provider": {"virtualNode": {"virtualNodeName": "back"}}})
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="front", spec={
        "listeners": [{"portMapping": {"port": 9000, "protocol": "http"}}],
        "backends": [{"virtualService": {"virtualServiceName": "back.svc"}}]})
    cluster = f"cds_egress_{mesh}_back_http_8080"
    _published_within(lambda: snapshot_of(local_stack, mesh, "front") is not None, 10, "front's first snapshot")

    def front_calls(expected: list[str]) -> Callable[[], bool]:
        return lambda: addresses(snapshot_of(local_stack, mesh, "front"), cluster) == expected

    _warm_cloud_map_events(local_stack, service)

    sd.register_instance(ServiceId=service, InstanceId="i-1", Attributes={"AWS_INSTANCE_IPV4": "10.3.0.1"})
    took = _published_within(front_calls(["10.3.0.1"]), BOUND, "the registered instance")
    print(f"RegisterInstance reached front's snapshot in {took:.2f}s")
    sd.deregister_instance(ServiceId=service, InstanceId="i-1")
    took = _published_within(front_calls([]), BOUND, "the deregistration")
    print(f"DeregisterInstance reached front's snapshot in {took:.2f}s")


def _warm_cloud_map_events(stack: LocalStack, service: str) -> None:
    """Put a CloudTrail record naming `service` on the bus ourselves and wait for its handler to run: a
    function's first invocation is a cold start (seconds on a busy machine), which is not what is measured."""
    event = json.loads((EVENTS / "cloudmap_register_instance.json").read_text())
    event["detail"]["requestParameters"]["serviceId"] = service
    before = stack.function_stats()["CloudMapEventsFunction"]["invocations"]
    stack.client("events").put_events(Entries=[{"Source": event["source"], "DetailType": event["detail-type"],
                                                "Detail": json.dumps(event["detail"])}])
    deadline = time.monotonic() + 30
    while stack.function_stats()["CloudMapEventsFunction"]["invocations"] == before:
        assert time.monotonic() < deadline, "the Cloud Map events handler never ran"
        time.sleep(0.1)
