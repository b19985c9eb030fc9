"""A meshplane stack on moto in server mode, with the pipeline's calls counted, for the cost suite.

The harness plays what AWS plays, and only that is left uncounted: the table, bucket,
bus and ConfigPublished queue as the template makes them, the Cloud Map registrations
(ECS makes them in AWS), the App Mesh resources written by the resource store as the API
writes them, and the Lambda service reading the table's stream (free in AWS) through
the template's filter, and the shard function's event source (a shard queue, its
messages delivered one per invocation).  The pipeline runs its production code
(`Pipeline` with the template's settings, shards included) on clients from one boto3
session that a `CallCounter` watches, so every call it makes to the emulator over HTTP
is counted, and every entry point it runs is one Lambda invocation, timed.

A node is one virtual node with one Envoy (one proxy), a Cloud Map service with two
registered instances, an HTTP listener, and five virtual-service backends picked at
random (`bench/meshgen.py`); one service in five sits behind a virtual router with a
90/10 route.  Two more routers, `hot10` and `hot1000`, are backends of the first 10 and
the first min(1,000, N) nodes: their routes are the route changes with 10 and with 1,000
dependents.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cost_model
import meshgen
from callcount import CallCounter, Tally
from common import ROOT

REGION = "us-east-1"
MESH = "bench"
NAMESPACE = f"{MESH}.local"
HOT = {"hot10": 10, "hot1000": 1000}
ENDPOINTS_PER_NODE = 2
REGISTER_THREADS = 8
MARGIN_SECONDS_AHEAD = 61  # the marks' last pass put past the reconcile's look-back (`World.quiet`)


@dataclass
class Invocation:
    """One Lambda invocation: which function, how long its handler ran here (wall clock, and the CPU time of this
    process's threads, the call counter's own handlers taken out), what it called."""

    function: str
    seconds: float
    tally: Tally
    cpu_seconds: float = 0.0


@dataclass
class Scenario:
    """Everything one scenario cost: its invocations and their calls."""

    name: str
    invocations: list[Invocation] = field(default_factory=list)
    published: int = 0
    poller_requests: int = 0  # SQS requests Lambda's event source makes for the scenario's shards (modelled)

    @property
    def tally(self) -> Tally:
        total = Tally()
        for invocation in self.invocations:
            total.add(invocation.tally)
        return total


def env_for(endpoint_url: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION, "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
            "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_SERVICE_NAME": "meshplane-bench-cost",
            "POWERTOOLS_METRICS_NAMESPACE": "MeshplaneBench", "LOG_LEVEL": "WARNING"}


@contextlib.contextmanager
def emulator() -> Iterator[str]:
    """`python -m meshplane.local.motoserver` on a free loopback port, as `meshplane local up` runs it."""
    from common import free_port
    from meshplane.local.emulator import Emulator

    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-cost-moto-{os.getpid()}.log"
    moto = Emulator.spawn("127.0.0.1", free_port(), log)
    try:
        moto.wait_ready(60)
        yield moto.endpoint_url
    finally:
        moto.stop()


def recompute_source(stream_arn: str) -> Any:
    """The recompute function's stream event source as template.yaml declares it: batch size and filters."""
    from meshplane.local.plan import StreamSource
    from meshplane.local.template import load_sam_template

    resources = load_sam_template(ROOT / "template.yaml")["Resources"]
    function = next(r["Properties"] for r in resources.values() if r.get("Type") == "AWS::Serverless::Function"
                    and str(r["Properties"]["CodeUri"]).rstrip("/").endswith("/recompute"))
    source = next(e["Properties"] for e in function["Events"].values() if e["Type"] == "DynamoDB")
    return StreamSource(logical_id="recompute", function="recompute", stream_arn=stream_arn,
                        batch_size=int(source["BatchSize"]), starting_position="TRIM_HORIZON", report_failures=True,
                        bisect=False, max_retries=0, on_failure_arn=None,
                        filters=tuple(f["Pattern"] for f in source.get("FilterCriteria", {}).get("Filters", [])))


@dataclass
class Context:
    """What Lambda passes as `context`: enough for Powertools and the function's owner."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _hot_mesh(nodes: int) -> Any:
    """The synthetic mesh plus the two hot routers and their callers."""
    state = meshgen.build_mesh(meshgen.MeshShape(nodes, min_endpoints=ENDPOINTS_PER_NODE,
                                                 max_endpoints=ENDPOINTS_PER_NODE, mesh=MESH))
    routers, routes, services = dict(state.virtual_routers), dict(state.routes), dict(state.virtual_services)
    virtual_nodes = dict(state.virtual_nodes)
    for router, callers in HOT.items():
        routers[router] = meshgen._router(MESH, router)
        routes[(router, "default")] = meshgen._weighted_route(MESH, router, meshgen.node_name(0),
                                                              meshgen.node_name(1 % nodes))
        svc = f"{router}.{NAMESPACE}"
        provider = meshgen.shapes.VirtualServiceProvider(
            virtual_router=meshgen.shapes.VirtualRouterServiceProvider(virtual_router_name=router))
        services[svc] = meshgen._service(MESH, svc, provider)
        for i in range(min(callers, nodes)):
            name = meshgen.node_name(i)
            spec = virtual_nodes[name].spec
            backends = [b.virtual_service.virtual_service_name for b in spec.backends or []]
            virtual_nodes[name] = meshgen.virtual_node(MESH, name, [*backends, svc])
    return dataclasses.replace(state, virtual_nodes=virtual_nodes, virtual_services=services,
                               virtual_routers=routers, routes=routes)


class World:
    """The stack on the emulator, the mesh in it, and the counted pipeline."""

    def __init__(self, endpoint_url: str, nodes: int) -> None:
        import boto3
        from meshplane.config import Settings
        from meshplane.store import schema

        self.nodes = nodes
        for name, value in env_for(endpoint_url).items():
            os.environ[name] = value
        self.plain = boto3.session.Session(region_name=REGION)  # plays AWS and the user: not counted
        facts = cost_model.template_facts()
        self.shard_queue = self.plain.client("sqs").create_queue(QueueName="bench-recompute-shards")["QueueUrl"]
        self.settings = Settings(table="bench-state", bucket="bench-snapshots", bus="bench-config", region=REGION,
                                 shard_queue_url=self.shard_queue, shard_threshold=facts.shard_threshold,
                                 shard_size=facts.shard_size)
        self.counter = CallCounter(sizer=self.plain.client("dynamodb"))
        self.counted = boto3.session.Session(region_name=REGION)
        self.counter.attach(self.counted)
        schema.create_table(self.plain.client("dynamodb"), self.settings.table)
        self.plain.client("s3").create_bucket(Bucket=self.settings.bucket)
        self._bus_and_queue()
        self._scenario: Scenario | None = None  # where the stream's invocations are counted; None: not counted
        self.stream = self._stream_poller()
        self.state = _hot_mesh(nodes)
        self.service_ids: dict[str, str] = {}
        self.log = io.StringIO()
        self.pipeline = self._pipeline(self.settings.reconcile_sweep_seconds)
        self._flips: dict[str, bool] = {}

    def _bus_and_queue(self) -> None:
        """The bus, ConfigPublishedQueue and the rule between them, as template.yaml has them."""
        events, sqs = self.plain.client("events"), self.plain.client("sqs")
        events.create_event_bus(Name=self.settings.bus)
        queue = sqs.create_queue(QueueName="bench-config-published",
                                 Attributes={"MessageRetentionPeriod": "3600"})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="config-published", EventBusName=self.settings.bus, EventPattern=json.dumps(
            {"source": ["meshplane.pipeline"], "detail-type": ["ConfigPublished"]}))
        events.put_targets(Rule="config-published", EventBusName=self.settings.bus,
                           Targets=[{"Id": "ads-queue", "Arn": arn}])

    def _clients(self, session: Any) -> Any:
        """Clients of `session` configured as the template's functions have them (`pipeline.wiring`)."""
        from botocore.config import Config
        from meshplane.pipeline.wiring import MAX_POOL_CONNECTIONS, Clients

        config = Config(region_name=REGION, max_pool_connections=MAX_POOL_CONNECTIONS,
                        retries={"mode": "standard", "max_attempts": self.settings.aws_max_attempts})
        sd_config = config.merge(Config(inject_host_prefix=False))

        def client(name: str, conf: Any = config) -> Any:
            return session.client(name, config=conf)

        return Clients(dynamodb=client("dynamodb"), s3=client("s3"), events=client("events"), ecs=client("ecs"),
                       servicediscovery=client("servicediscovery", sd_config), ec2=client("ec2"),
                       acm=client("acm"), acm_pca=client("acm-pca"), sqs=client("sqs"))

    def _pipeline(self, sweep_seconds: float, clients: Any = None, *, shards: bool = True) -> Any:
        """The production pipeline (on counted clients unless given others), configured as the template's functions
        are; without `shards`, every change is rebuilt in its own invocation."""
        from meshplane.pipeline.runtime import Pipeline
        from meshplane.pipeline.telemetry import Telemetry
        from meshplane.pipeline.validate import default_validators
        from meshplane.pipeline.wiring import Collaborators

        clients = clients or self._clients(self.counted)
        parts = Collaborators.default(self.settings, clients)
        # Lambda has no Envoy binary, so its functions validate with the consistency check alone
        validators = default_validators(has_envoy=lambda: False)
        parts = Collaborators(parts.loader, parts.graph, parts.translator, validators)
        settings = self.settings if shards else dataclasses.replace(self.settings, shard_queue_url="")
        return Pipeline(settings, clients, parts, Telemetry.from_env(self.log), sweep_seconds=sweep_seconds)

    # ---- setup (uncounted) ------------------------------------------------------------------
    def seed(self) -> None:
        """The mesh through the resource store, its resources as the store writes them, each node's Cloud Map
        service and instances."""
        from meshplane.model.ids import Kind, ResourceKey
        from meshplane.store.resources import ResourceStore

        state = self.state
        dynamodb = self.plain.client("dynamodb")
        ResourceStore(self.settings.table, dynamodb, region=REGION).create(
            ResourceKey(Kind.MESH, MESH, MESH), state.mesh.spec)
        resources = [
            *((ResourceKey(Kind.VIRTUAL_NODE, MESH, n), d.spec) for n, d in state.virtual_nodes.items()),
            *((ResourceKey(Kind.VIRTUAL_ROUTER, MESH, n), d.spec) for n, d in state.virtual_routers.items()),
            *((ResourceKey(Kind.ROUTE, MESH, n, r), d.spec) for (r, n), d in state.routes.items()),
            *((ResourceKey(Kind.VIRTUAL_SERVICE, MESH, n), d.spec) for n, d in state.virtual_services.items()),
        ]
        items = [{"PutRequest": {"Item": item}} for item in
                 [*(_resource_item(key, spec) for key, spec in resources), *_counter_items(resources),
                  *_lookup_items(resources)]]
        for start in range(0, len(items), 25):
            pending = {self.settings.table: items[start:start + 25]}
            while pending:
                pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        self._register()
        self.skip_stream()  # the seeding's records are not delivered: the first reconcile publishes everything

    def _register(self) -> None:
        """Each node's Cloud Map service with its instances, as ECS registers them (on threads: the harness)."""
        from concurrent.futures import ThreadPoolExecutor

        from botocore.config import Config

        sd = self.plain.client("servicediscovery", config=Config(max_pool_connections=REGISTER_THREADS))
        sd.create_http_namespace(Name=NAMESPACE)
        namespace = next(n["Id"] for n in sd.list_namespaces()["Namespaces"] if n["Name"] == NAMESPACE)

        def register(i: int, name: str) -> None:
            service_id = sd.create_service(Name=name, NamespaceId=namespace)["Service"]["Id"]
            self.service_ids[name] = service_id
            for endpoint in meshgen.endpoints_for(i, ENDPOINTS_PER_NODE):
                sd.register_instance(ServiceId=service_id, InstanceId=endpoint.instance_id,
                                     Attributes={"AWS_INSTANCE_IPV4": endpoint.address,
                                                 "AWS_INSTANCE_PORT": str(meshgen.LISTENER_PORT)})

        with ThreadPoolExecutor(REGISTER_THREADS) as pool:
            list(pool.map(register, range(len(self.state.virtual_nodes)), self.state.virtual_nodes))

    def publish(self) -> int:
        """The state the first reconcile leaves, written by the pipeline's own code without counting or waiting on
        one call per item: every node's Cloud Map endpoints (`CloudMapDiscovery.refresh`, on threads), then every
        proxy published (`Recomputer.recompute(full=True)`), their DynamoDB single writes gathered into
        BatchWriteItem calls (the table starts empty, so their conditions hold), their S3 PUTs sent on threads while
        the next proxies are built (`ThreadedPuts`), their ConfigPublished events dropped (nothing was running to
        hear them), and the reconcile's marks of a sweep just done.  The counted
        sweep that follows finding nothing to publish is the check that this is what the pipeline writes.
        Returns the proxies published."""
        from concurrent.futures import ThreadPoolExecutor

        from meshplane.pipeline.cloudmap import CloudMapDiscovery
        from meshplane.pipeline.node_directory import NodeReader
        from meshplane.pipeline.reconcile import SWEEP_THREADS
        from meshplane.store.endpoints import EndpointStore

        started = time.time()
        clients = self._clients(self.plain)
        batched = BatchedWrites(clients.dynamodb, self.settings.table)
        puts = ThreadedPuts(clients.s3)
        clients = dataclasses.replace(clients, dynamodb=batched, s3=puts, events=DroppedEvents())
        pipeline = self._pipeline(float("inf"), clients, shards=False)
        nodes = NodeReader(clients.dynamodb, self.settings.table).read([MESH]).directory.cloud_map_nodes()
        discovery = CloudMapDiscovery(clients.servicediscovery, EndpointStore(self.settings.table, batched))
        with ThreadPoolExecutor(SWEEP_THREADS) as pool:
            list(pool.map(discovery.refresh, nodes))
        batched.flush()
        try:
            outcome = pipeline.recomputer.recompute(MESH, full=True)
        finally:
            puts.flush()
        batched.flush()
        self.mark_swept(started)
        return len(outcome.published)

    def mark_swept(self, started: float) -> None:
        """The reconcile's marks as a sweep started at `started` leaves them (no ECS tasks), its last pass put past
        the look-back (`World.quiet`); the stream's records so far dropped (uncounted: the harness)."""
        from meshplane.pipeline.reconcile_marks import Marks, MarkStore, task_digest

        MarkStore(self.plain.client("dynamodb"), self.settings.table).put(
            Marks(started + MARGIN_SECONDS_AHEAD, started, task_digest({}), ()))
        self.skip_stream()

    def skip_stream(self) -> None:
        """Drop the stream's records so far unread: the poller starts again at the stream's end (LATEST), so the
        seeding's tens of thousands of records are not read back through the emulator to be dropped."""
        self.stream = self._stream_poller("LATEST")

    # ---- invocations (counted) --------------------------------------------------------------
    def invoke(self, scenario: Scenario, function: str, run: Any, *args: Any) -> dict[str, Any]:
        """Run one entry point as one Lambda invocation: timed (wall clock and this process's CPU time; moto runs in
        its own process), its calls counted, its stdout (EMF) kept out."""
        with self.counter.counting() as tally, contextlib.redirect_stdout(io.StringIO()):
            started, cpu = time.perf_counter(), time.process_time()
            result: dict[str, Any] = run(*args, Context(function))
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        scenario.invocations.append(Invocation(function, seconds - tally.hook_seconds, tally,
                                               max(0.0, cpu_seconds - tally.hook_cpu)))
        return result

    def reconcile(self, name: str, *, sweep: bool = False, deliver: bool = True) -> Scenario:
        """One scheduled reconcile and the recompute of the stream records it wrote; `sweep` is the pass that
        re-reads everything (every `MESHPLANE_RECONCILE_SWEEP_SECONDS`); without `deliver` those records are
        dropped (the first publish: each would only find its proxies published already)."""
        scenario = Scenario(name)
        pipeline = self._pipeline(0 if sweep else float("inf"))
        self.invoke(scenario, "reconcile", pipeline.reconcile, self._scheduled())
        self.shards(scenario, pipeline)
        self.drain(scenario if deliver else None)
        scenario.published = scenario.tally.events_entries
        return scenario

    def quiet(self) -> None:
        """Put everything written so far behind the reconcile's look-back, as a minute without changes does.

        A pass looks back `MARGIN_SECONDS` before the last one, so the seeding's Cloud Map
        registrations would be re-examined by the first pass after them; rather than wait a
        minute, the last pass's mark is moved that far forward (uncounted: it is the harness).
        """
        import dataclasses as dc

        from meshplane.pipeline.reconcile import MARGIN_SECONDS
        from meshplane.pipeline.reconcile_marks import MarkStore

        store = MarkStore(self.plain.client("dynamodb"), self.settings.table)
        marks = store.get()
        if marks is not None:
            store.put(dc.replace(marks, passed_at=time.time() + MARGIN_SECONDS + 1))

    def _stream_poller(self, position: str = "TRIM_HORIZON") -> Any:
        """The local runtime's stream poller (the Lambda service's part) reading from `position`, handing batches to
        `_deliver`."""
        from meshplane.local.sources import StreamPoller

        arn = self.plain.client("dynamodb").describe_table(TableName=self.settings.table)["Table"]["LatestStreamArn"]
        source = dataclasses.replace(recompute_source(arn), starting_position=position)
        return StreamPoller(source, self.plain.client("dynamodbstreams"), self.plain.client("sqs"),
                            self._deliver, REGION, interval=0)

    def _deliver(self, batch: dict[str, Any]) -> Any:
        from meshplane.local.invoker import Invocation as Outcome

        if self._scenario is None:
            return Outcome(result={"batchItemFailures": []})
        return Outcome(result=self.invoke(self._scenario, "recompute", self.pipeline.recompute, batch))

    def drain(self, scenario: Scenario | None) -> None:
        """Everything new on the stream, through the template's filter, to the recompute function (or dropped)."""
        self._scenario = scenario
        try:
            while self.stream.poll_once():
                pass
        finally:
            self._scenario = None

    def recompute_stream(self, scenario: Scenario) -> None:
        """Deliver what the stream holds to the recompute function, in the template's batches, then the shards it
        sent to the shard function."""
        self.drain(scenario)
        self.shards(scenario, self.pipeline)
        scenario.published = scenario.tally.events_entries  # one ConfigPublished per publish

    def shards(self, scenario: Scenario, pipeline: Any) -> None:
        """Each shard on the shard queue through the shard function, one message per invocation as the template's
        event source delivers them; Lambda's poller's receive and delete of each are modelled, not counted."""
        sqs = self.plain.client("sqs")
        while messages := sqs.receive_message(QueueUrl=self.shard_queue, MaxNumberOfMessages=10,
                                              WaitTimeSeconds=0).get("Messages", []):
            for message in messages:
                result = self.invoke(scenario, "recompute_shard", pipeline.recompute_shard,
                                     _sqs_batch([json.loads(message["Body"])]))
                if result.get("batchItemFailures"):
                    raise RuntimeError(f"a shard failed: {result}")
                sqs.delete_message(QueueUrl=self.shard_queue, ReceiptHandle=message["ReceiptHandle"])
                scenario.poller_requests += 2

    def endpoint_change(self, node_index: int) -> Scenario:
        """A new instance of one node registered in Cloud Map, its CloudTrail event, then the recompute."""
        scenario = Scenario("one endpoint change")
        name = meshgen.node_name(node_index)
        service_id = self.service_ids[name]
        instance = f"i-{node_index:05d}-new-{uuid.uuid4().hex[:6]}"
        self.plain.client("servicediscovery").register_instance(
            ServiceId=service_id, InstanceId=instance,
            Attributes={"AWS_INSTANCE_IPV4": f"10.250.{node_index % 250}.{(node_index // 250) % 250 + 1}",
                        "AWS_INSTANCE_PORT": str(meshgen.LISTENER_PORT)})
        event = json.loads((ROOT / "events" / "cloudmap_register_instance.json").read_text())
        event["id"] = str(uuid.uuid4())
        event["detail"]["requestParameters"]["serviceId"] = service_id
        event["detail"]["requestParameters"]["instanceId"] = instance
        self.invoke(scenario, "cloudmap_events", self.pipeline.cloudmap_events, _sqs_batch([event]))
        self.recompute_stream(scenario)
        return scenario

    def route_change(self, router: str) -> Scenario:
        """UpdateRoute's write of the hot router's route (its targets' weights swapped), then the recompute.

        The write is the API function's: the resource store's read and transaction, on the
        counted session, timed as that invocation's store work (the API's request handling
        around it is not part of the measured duration).
        """
        from meshplane.model.ids import Kind, ResourceKey
        from meshplane.store.resources import ResourceStore

        scenario = Scenario(f"one route change, {min(HOT[router], self.nodes):,} dependents")
        store = ResourceStore(self.settings.table, self.pipeline.clients.dynamodb, region=REGION)
        self._flips[router] = not self._flips.get(router, False)
        first, second = meshgen.node_name(0), meshgen.node_name(1 % self.nodes)
        primary, canary = (second, first) if self._flips[router] else (first, second)
        route = meshgen._weighted_route(MESH, router, primary, canary)
        key = ResourceKey(Kind.ROUTE, MESH, "default", router)
        self.invoke(scenario, "api", lambda _context: store.update(key, route.spec) and {})
        self.recompute_stream(scenario)
        return scenario

    @staticmethod
    def _scheduled() -> dict[str, Any]:
        event: dict[str, Any] = json.loads((ROOT / "events" / "scheduled_event.json").read_text())
        event["id"] = str(uuid.uuid4())
        return event


class BatchedWrites:
    """A DynamoDB client whose PutItem and DeleteItem calls are gathered and sent as BatchWriteItem (`flush`);
    everything else goes to the client itself.  For seeding an empty table only: conditions are not checked."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], dict[str, Any]] = {}

    def put_item(self, *, Item: dict[str, Any], **_: Any) -> dict[str, Any]:
        with self._lock:
            self._pending[(Item["pk"]["S"], Item["sk"]["S"])] = {"PutRequest": {"Item": Item}}
        return {}

    def delete_item(self, *, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        with self._lock:
            self._pending[(Key["pk"]["S"], Key["sk"]["S"])] = {"DeleteRequest": {"Key": Key}}
        return {}

    def flush(self) -> None:
        with self._lock:
            requests, self._pending = list(self._pending.values()), {}
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self._table: requests[start:start + 25]}
            while pending:
                pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class ThreadedPuts:
    """An S3 client whose PutObject calls are sent on threads and answered at once (`flush` waits for them and
    raises the first failure); everything else goes to the client itself.  For seeding only: the caller must not
    read back what it put before `flush`, nor use PutObject's answer."""

    THREADS = 4

    def __init__(self, client: Any) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._client = client
        self._pool = ThreadPoolExecutor(self.THREADS)
        self._sent: list[Any] = []

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        self._sent.append(self._pool.submit(self._client.put_object, **kwargs))
        return {}

    def flush(self) -> None:
        sent, self._sent = self._sent, []
        try:
            for future in sent:
                future.result()
        finally:
            self._pool.shutdown()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class DroppedEvents:
    """An EventBridge client whose PutEvents are accepted and dropped."""

    @staticmethod
    def put_events(*, Entries: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in Entries]}


def _resource_item(key: Any, spec: Any) -> dict[str, Any]:
    """A resource's item as `ResourceStore.create` writes it (its counters are `_counter_items`), so the mesh of
    1,000 nodes is written in batches instead of one transaction per resource."""
    from meshplane.store import schema
    from meshplane.store.transact import attrs

    now = schema.epoch(meshgen._EPOCH)
    return attrs({
        **schema.item_key(key), "kind": key.kind.value, "mesh": key.mesh, "name": key.name,
        **({"parent": key.parent} if key.parent else {}),
        "arn": key.arn(REGION, meshgen.ACCOUNT), "uid": str(uuid.uuid4()), "version": 1, "createdAt": now,
        "lastUpdatedAt": now, "meshOwner": meshgen.ACCOUNT, "resourceOwner": meshgen.ACCOUNT, "status": "ACTIVE",
        "spec": schema.spec_json(spec), "tags": {}, "tokens": [],
    })


def _counter_items(resources: list[tuple[Any, Any]]) -> list[dict[str, Any]]:
    """The counters `ResourceStore.create` keeps beside those resources: each node's, service's and router's
    references and children (a router counts its routes), and the mesh's count of each kind."""
    from collections import Counter

    from meshplane.model.ids import Kind, ResourceKey
    from meshplane.store import schema
    from meshplane.store.kinds import references
    from meshplane.store.transact import attrs

    counted = (Kind.VIRTUAL_NODE, Kind.VIRTUAL_SERVICE, Kind.VIRTUAL_ROUTER, Kind.VIRTUAL_GATEWAY)
    counts: dict[Any, Counter[str]] = {key: Counter() for key, _ in resources if key.kind in counted}
    for key, spec in resources:
        if key.parent is not None:
            counts[ResourceKey(key.kind.parent_kind, key.mesh, key.parent)]["children"] += 1
        for ref in references(key, spec):
            counts[ref]["refs"] += 1
    per_kind = Counter(key.kind.value for key in counts)
    mesh = ResourceKey(Kind.MESH, MESH, MESH)
    return [attrs({**schema.item_key(mesh), "sk": schema.MESH_COUNTER_SK, **per_kind}),
            *(attrs({**schema.item_key(key), "sk": schema.counter_sk(key), **count}) for key, count in counts.items())]


def _lookup_items(resources: list[tuple[Any, Any]]) -> list[dict[str, Any]]:
    """The Cloud Map lookup item `ResourceStore.create` writes beside each node that uses Cloud Map."""
    from meshplane.store.cloudmap_lookup import item_of

    return [item for key, spec in resources if (item := item_of(key.mesh, key.name, spec)) is not None]


def _sqs_batch(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The SQS event source's batch around EventBridge events, as Lambda delivers it."""
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": "handle", "body": json.dumps(event),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000)),
                       "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {}, "md5OfBody": "0", "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:bench-cloudmap-events", "awsRegion": REGION,
    } for event in events]}
