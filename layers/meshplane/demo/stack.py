"""Bring the whole demo up: local up, the CA, Cloud Map, ECS, the mesh, apps and sidecars."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from meshplane.demo import envoy, mesh
from meshplane.demo.discovery import CloudMap, EcsCluster
from meshplane.demo.envoy import DemoError, Sidecar
from meshplane.demo.network import LoopbackAddresses
from meshplane.demo.pki import LocalCA
from meshplane.demo.plan import APP_PORT, EGRESS_PORT, GATEWAY_PORT, INGRESS_PORT, ZONES, Instance, Plan, Registration
from meshplane.local.harness import LocalStack, start_local_up
from meshplane.localnet.processes import Child, Supervisor
from meshplane.localnet.waiting import poll

# (node, instance, version, how it is registered, zone): two blue and two green, each way once, one of each
# color per zone.  A second front instance, in the other zone, joins for the zone-aware check (`demo.zoned`).
INSTANCES: tuple[tuple[str, str, str, Registration, str], ...] = (
    ("front", "front-1", "v1", "cloudmap", ZONES[0]),
    ("blue", "blue-1", "v1", "ecs", ZONES[0]),
    ("blue", "blue-2", "v1", "cloudmap", ZONES[1]),
    ("green", "green-1", "v2", "ecs", ZONES[0]),
    ("green", "green-2", "v2", "cloudmap", ZONES[1]),
)
ECS_EVENT_BUS = "default"  # ECS delivers task state changes to the account's default bus
RECONCILE_SECONDS = 10.0
LOCAL_UP_TIMEOUT = 180.0


@dataclass
class Clients:
    """boto3 clients: App Mesh against meshplane's API, the rest against the emulator."""

    appmesh: Any
    servicediscovery: Any
    ecs: Any
    ec2: Any
    events: Any

    @classmethod
    def connect(cls, api_url: str, aws_endpoint: str, region: str) -> Clients:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(region_name=region)
        config = Config(retries={"mode": "standard"})

        def emulated(service: Literal["servicediscovery", "ecs", "ec2", "events"], **extra: Any) -> Any:
            return session.client(service, endpoint_url=aws_endpoint, config=config.merge(Config(**extra)))

        return cls(
            appmesh=session.client("appmesh", endpoint_url=api_url, config=config),
            servicediscovery=emulated("servicediscovery", inject_host_prefix=False),
            ecs=emulated("ecs"),
            ec2=emulated("ec2"),
            events=emulated("events"),
        )


@dataclass
class Running:
    """One running instance: its app and its sidecar."""

    instance: Instance
    app: Child | None
    sidecar: Sidecar


@dataclass
class Stack:
    plan: Plan
    supervisor: Supervisor
    local: LocalStack
    clients: Clients
    cloud_map: CloudMap
    ecs: EcsCluster
    workdir: Path
    addresses: LoopbackAddresses
    running: dict[str, Running] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    registered_at: float = 0.0  # time.monotonic() when the first instance was registered

    @property
    def gateway(self) -> Running:
        return self.running["gateway"]

    @property
    def gateway_address(self) -> tuple[str, int]:
        return self.gateway.instance.address, GATEWAY_PORT

    def sidecars(self) -> list[Sidecar]:
        return [r.sidecar for r in self.running.values()]


def _timed(timings: dict[str, float], name: str, started: float) -> None:
    timings[name] = round(time.monotonic() - started, 3)


def _local_up(supervisor: Supervisor, state_dir: Path, region: str) -> LocalStack:
    """`meshplane local up` under the demo's supervisor, reconciling every few seconds so a late event costs little."""
    try:
        return start_local_up(state_dir, "--schedule-interval", str(RECONCILE_SECONDS), region=region,
                              supervisor=supervisor, timeout=LOCAL_UP_TIMEOUT)  # fmt: skip
    except (RuntimeError, TimeoutError) as exc:
        raise DemoError(f"`meshplane local up` did not start: {exc}") from None


def bring_up(supervisor: Supervisor, workdir: Path, region: str, view: Any) -> Stack:
    """Everything up to the first request: returns once the stack is built (traffic not yet checked)."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    with view.step("Starting `meshplane local up` (moto, the SAM template, Lambda runtime, API, ADS)"):
        local = _local_up(supervisor, workdir / "local", region)
    _timed(timings, "local_up", started)
    view.info(f"App Mesh API {local.api_url}   ADS {local.ads_address}   AWS emulator {local.endpoint_url}")
    clients = Clients.connect(local.api_url, local.endpoint_url, region)
    plan = Plan.new()

    started = time.monotonic()
    with view.step("Creating a local CA and a certificate per service for mTLS"):
        ca = LocalCA.create(workdir / "pki")
        certs = {name: ca.issue(name, [plan.service(name)], uris=(mesh.spiffe_id(plan, name),))
                 for name in (*plan.node_names, plan.gateway)}
        plan = replace(plan, ca=str(ca.cert_path), certs=certs)
    with view.step(f"Creating Cloud Map namespace {plan.namespace} and an ECS cluster in the emulator"):
        cloud_map = CloudMap.create(clients.servicediscovery, plan, plan.node_names)
        ecs = EcsCluster.create(clients.ecs, clients.ec2, plan)
    with view.step(f"Defining mesh {plan.mesh} through the App Mesh API (boto3 appmesh)"):
        arns = mesh.define(clients.appmesh, plan)
    view.info(f"{len(arns)} resources: gateway → front → color (router: blue/green), retries, timeouts, "
              "outlier detection, mTLS, Cloud Map discovery")  # fmt: skip
    with view.step("Writing authorization policies (meshplane's Policy API): each node accepts only its callers"):
        mesh.authorize(clients.appmesh, plan)
    with view.step("Writing blue's failure-percentage ejection, retry budget and zone-aware routing (Policy API)"):
        mesh.resilience(clients.appmesh, plan)
    _timed(timings, "define_mesh", started)

    stack = Stack(plan, supervisor, local, clients, cloud_map, ecs, workdir, LoopbackAddresses(), timings=timings)
    started = time.monotonic()
    with view.step("Starting 5 service instances and 6 Envoy sidecars (bootstrapped by `meshplane bootstrap`)"):
        _start_instances(stack)
    _timed(timings, "start_instances", started)
    started = time.monotonic()
    with view.step("Registering instances: ECS Task State Change events on EventBridge, Cloud Map RegisterInstance"):
        for running in stack.running.values():
            register(stack, running.instance)
    _timed(timings, "register", started)
    stack.registered_at = started
    return stack


def _start_instances(stack: Stack) -> None:
    plan = stack.plan
    gateway_ip = stack.addresses.claim((GATEWAY_PORT,))
    gateway = Instance(plan.gateway, plan.gateway, "v1", gateway_ip, None)
    stack.running["gateway"] = Running(gateway, None, _sidecar(stack, gateway, "virtualGateway"))
    for node, name, version, registration, zone in INSTANCES:
        start_instance(stack, node, name, version, registration, zone)


def start_instance(stack: Stack, node: str, name: str, version: str, registration: Registration, zone: str
                   ) -> Running:  # fmt: skip
    """An app and its sidecar at a loopback address of their own (not registered yet)."""
    address = stack.addresses.claim((APP_PORT, INGRESS_PORT, EGRESS_PORT))
    instance = Instance(node, name, version, address, registration, zone)
    stack.running[name] = Running(instance, start_app(stack, instance), _sidecar(stack, instance, "virtualNode"))
    return stack.running[name]


def restart(stack: Stack, name: str) -> Running:
    """Start a stopped instance's app and sidecar again at its address, as ECS replaces a task; its
    registration still stands, so the mesh sends it traffic once its Envoy has its config."""
    instance = stack.running[name].instance
    stack.running[name] = Running(instance, start_app(stack, instance), _sidecar(stack, instance, "virtualNode"))
    return stack.running[name]


def start_app(stack: Stack, instance: Instance) -> Child:
    command = [sys.executable, "-m", "meshplane.demo.app", "--name", instance.node, "--version", instance.version,
               "--instance", instance.name, "--listen", f"{instance.address}:{APP_PORT}"]  # fmt: skip
    if instance.node == "front":
        command += ["--egress", f"{instance.address}:{EGRESS_PORT}", "--backend-host", stack.plan.service("color")]
    return stack.supervisor.start(f"app-{instance.name}", command)


def _sidecar(stack: Stack, instance: Instance, kind: str) -> Sidecar:
    node_id = f"mesh/{stack.plan.mesh}/{kind}/{instance.node}"
    workdir = stack.workdir / "envoy" / instance.name
    return envoy.start_sidecar(stack.supervisor, instance.name, node_id, stack.local.ads_address, instance.address,
                               workdir, instance.zone)  # fmt: skip


def register(stack: Stack, instance: Instance) -> None:
    if instance.registration == "ecs":
        stack.ecs.run(stack.clients.ecs, stack.clients.events, stack.plan, instance, ECS_EVENT_BUS)
    elif instance.registration == "cloudmap":
        stack.cloud_map.register(stack.clients.servicediscovery, stack.clients.events, instance)


def wait_for_traffic(stack: Stack, probe: Any, timeout: float = 90.0) -> float:
    """Seconds from the first registration until blue answers through the gateway (the whole path is live)."""
    last = ""

    def blue_answers() -> bool:
        nonlocal last
        status, color, detail = probe()
        if status == 200 and color == "blue":
            return True
        last = f"status {status} {detail[:200]}"
        for running in stack.running.values():
            if not running.sidecar.child.running:
                raise DemoError(f"Envoy {running.instance.name} exited:\n{running.sidecar.child.log_tail()}")
        return False

    if poll(blue_answers, timeout, interval=0.25):
        return time.monotonic() - stack.registered_at
    envoy_log = stack.gateway.sidecar.child.log_tail(1500)
    raise DemoError(f"no answer from blue through the gateway after {timeout:.0f}s (last: {last})\n"
                    f"gateway Envoy log:\n{envoy_log}")  # fmt: skip
