"""The demo's building blocks on their own: registration events, apps, process cleanup, mTLS material."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from cryptography import x509
from meshplane.demo.discovery import CloudMap, EcsCluster, cloudtrail_record, task_state_change
from meshplane.demo.network import LoopbackAddresses, free_port
from meshplane.demo.pki import LocalCA
from meshplane.demo.plan import INGRESS_PORT, Instance, Plan
from meshplane.localnet.loopback import free_ports
from meshplane.localnet.processes import Supervisor, alive
from meshplane.pipeline.cloudmap_events import service_id_of
from meshplane.pipeline.ecs import TaskEvent, change_of, endpoint_of
from moto import mock_aws


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> object:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def _event(detail: dict[str, object]) -> TaskEvent:
    return TaskEvent.model_validate({"id": "e", "source": "aws.ecs", "detail-type": "ECS Task State Change",
                                     "detail": detail})  # fmt: skip


def test_an_ecs_task_event_is_what_discovery_parses_into_the_sidecar_ingress(aws: object) -> None:
    plan = Plan.new()
    ecs, ec2 = boto3.client("ecs"), boto3.client("ec2")
    cluster = EcsCluster.create(ecs, ec2, plan)
    instance = Instance("blue", "blue-1", "v1", "127.91.3.4", "ecs")
    task_arn = cluster.run(ecs, boto3.client("events"), plan, instance, "default")
    task = cluster.tasks["blue-1"]
    assert [t["taskArn"] for t in ecs.describe_tasks(cluster=cluster.cluster_arn, tasks=[task_arn])["tasks"]] == [
        task_arn
    ]
    definition = task["taskDefinitionArn"]

    running = _event(task_state_change(cluster, instance, task, "RUNNING", 2))
    endpoint = endpoint_of(running.detail, [8080], lambda _: None)
    assert change_of(running.detail).value == "up"
    assert endpoint is not None and (endpoint.address, endpoint.port) == ("127.91.3.4", INGRESS_PORT)
    stopped = _event(task_state_change(cluster, instance, task, "STOPPED", 4))
    assert change_of(stopped.detail).value == "down"
    assert stopped.detail.order > running.detail.order
    env = ecs.describe_task_definition(taskDefinition=definition)["taskDefinition"]["containerDefinitions"][1]
    assert {"name": "APPMESH_VIRTUAL_NODE_NAME", "value": f"mesh/{plan.mesh}/virtualNode/blue"} in env["environment"]


def test_cloud_map_instances_advertise_the_sidecar_ingress(aws: object) -> None:
    plan = Plan.new()
    sd = boto3.client("servicediscovery")
    cloud_map = CloudMap.create(sd, plan, ("blue",))
    events = boto3.client("events")
    cloud_map.register(sd, events, Instance("blue", "blue-2", "v1", "127.91.3.5", "cloudmap"))
    listed = sd.list_instances(ServiceId=cloud_map.service_ids["blue"])["Instances"]
    assert [(i["Id"], i["Attributes"]["AWS_INSTANCE_IPV4"], i["Attributes"]["AWS_INSTANCE_PORT"]) for i in listed] == [
        ("blue-2", "127.91.3.5", str(INGRESS_PORT))
    ]
    record = json.loads(cloudtrail_record("RegisterInstance", {"ServiceId": "srv-1"}, "us-east-1")["Detail"])
    assert service_id_of({"source": "aws.servicediscovery", "detail": record}) == "srv-1"


def test_the_ca_issues_certificates_that_chain_to_it_and_name_the_service(tmp_path: Path) -> None:
    ca = LocalCA.create(tmp_path)
    paths = ca.issue("blue", ["blue.demo.local"])
    leaf = x509.load_pem_x509_certificates(paths.chain.read_bytes())[0]
    root = x509.load_pem_x509_certificate(ca.cert_path.read_bytes())
    leaf.verify_directly_issued_by(root)
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["blue.demo.local"]


def _get(address: str, port: int) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection(address, port, timeout=5)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def _wait_listening(address: str, port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            _get(address, port)
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{address}:{port} never answered")


def test_front_answers_with_what_its_backend_said_and_fails_visibly_without_it(tmp_path: Path) -> None:
    addresses = LoopbackAddresses(lock_dir=tmp_path / "locks")
    supervisor = Supervisor(tmp_path / "logs")
    try:
        color_ip, front_ip = addresses.claim((8080,)), addresses.claim((8080,))
        app = [sys.executable, "-m", "meshplane.demo.app"]
        color = supervisor.start("color", [*app, "--name", "green", "--version", "v2", "--instance", "green-1",
                                           "--listen", f"{color_ip}:8080"])  # fmt: skip
        supervisor.start("front", [*app, "--name", "front", "--version", "v1", "--instance", "front-1",
                                   "--listen", f"{front_ip}:8080", "--egress", f"{color_ip}:8080",
                                   "--backend-host", "color.demo.local"])  # fmt: skip
        _wait_listening(color_ip, 8080)
        _wait_listening(front_ip, 8080)
        assert _get(front_ip, 8080) == (200, {"service": "front", "version": "v1", "instance": "front-1",
                                              "backend": {"service": "green", "version": "v2", "instance": "green-1"}})
        supervisor.stop(color)
        status, body = _get(front_ip, 8080)
        assert status == 502 and "error" in body["backend"]  # type: ignore[operator]
    finally:
        assert supervisor.stop_all() == []
        addresses.release_all()


def test_stopping_kills_grandchildren_that_escaped_into_their_own_session(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "logs")
    pid_file = tmp_path / "grandchild.pid"
    script = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; "
              f"time.sleep(60)'], start_new_session=True); open({str(pid_file)!r}, 'w').write(str(p.pid)); "
              "time.sleep(60)")  # fmt: skip
    supervisor.start("parent", [sys.executable, "-c", script])
    deadline = time.monotonic() + 10
    while not (pid_file.exists() and pid_file.read_text()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    assert alive(grandchild)
    assert supervisor.stop_all(grace=1) == []
    assert not alive(grandchild)


def test_children_are_terminated_when_the_demo_itself_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = ("import sys, time; from pathlib import Path; from meshplane.localnet.processes import Supervisor; "
              f"child = Supervisor(Path({str(tmp_path)!r})).start('sleeper', [sys.executable, '-c', "
              "'import time; time.sleep(60)']); "
              f"Path({str(pid_file)!r}).write_text(str(child.pid)); time.sleep(60)")  # fmt: skip
    demo = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not (pid_file.exists() and pid_file.read_text()):
            assert time.monotonic() < deadline and demo.poll() is None
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert alive(child)
        demo.kill()  # no chance to clean up
        demo.wait()
        deadline = time.monotonic() + 5
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child)
    finally:
        demo.kill()
        demo.wait()


def test_ports_picked_together_are_distinct_even_when_the_kernel_would_reuse_one() -> None:
    # 500 `free_port()` calls one after another repeat a port almost surely (birthday odds over the
    # ephemeral range; 492 distinct of 500 measured here): picked together, none may repeat.
    ports = free_ports(500)
    assert len(set(ports)) == 500


def test_free_ports_are_bindable() -> None:
    port = free_port()
    subprocess.run([sys.executable, "-c", f"import socket; socket.socket().bind(('127.0.0.1', {port}))"], check=True)
