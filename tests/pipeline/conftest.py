"""A whole pipeline against in-process moto: table with stream, bucket, bus, Cloud Map, ECS.

`World` plays the parts AWS would: it creates App Mesh resources through the real
resource store, hands SQS-shaped batches to the handlers, and feeds them the
table's real DynamoDB stream records.
"""

from __future__ import annotations

import io
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from meshplane.config import Settings
from meshplane.local import moto_cloudmap_operations
from meshplane.model.ids import Kind, ProxyId, ResourceKey
from meshplane.pipeline.runtime import Pipeline
from meshplane.pipeline.telemetry import Telemetry
from meshplane.pipeline.wiring import Clients, Collaborators
from meshplane.snapshot.snapshot import Snapshot
from meshplane.store import schema
from meshplane.store.endpoints import NodeRef
from meshplane.store.kinds import KINDS
from meshplane.store.limits import Limits
from meshplane.store.resources import ResourceStore
from meshplane.store.s3objects import snapshot_bucket
from moto import mock_aws
from moto.core.models import botocore_stubber

EVENTS = Path(__file__).resolve().parents[2] / "events"
REGION = "us-east-1"


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as `context`, enough for Powertools."""

    function_name: str = "meshplane-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:meshplane-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def sqs_batch(events: Sequence[Mapping[str, Any] | str], receive_count: int = 1) -> dict[str, Any]:
    """An SQS event source batch; a str is sent as the raw body (for poison messages)."""
    records = []
    for event in events:
        body = event if isinstance(event, str) else json.dumps(event)
        records.append({
            "messageId": str(uuid.uuid4()), "receiptHandle": "handle", "body": body,
            "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "1764064821456",
                           "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1764064821460"},
            "messageAttributes": {}, "md5OfBody": "0", "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:meshplane-events", "awsRegion": REGION,
        })
    return {"Records": records}


class AtomicWrites:
    """A DynamoDB client whose item writes are atomic, as DynamoDB guarantees and moto does not.

    moto checks a ConditionExpression and writes the item without a lock, so two
    threads can both pass the check; real DynamoDB serialises writes per item.
    Reads and every other call stay concurrent.
    """

    WRITES = frozenset({"put_item", "update_item", "delete_item", "transact_write_items"})

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in self.WRITES:
            return attribute

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return locked


class Stream:
    """Reads the table's DynamoDB stream from where it last stopped."""

    def __init__(self, dynamodb: Any, streams: Any, table: str) -> None:
        arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        self._streams = streams
        self._iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    def drain(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        while True:
            page = self._streams.get_records(ShardIterator=self._iterator)
            self._iterator = page["NextShardIterator"]
            if not page["Records"]:
                return records
            records += page["Records"]


@dataclass
class World:
    settings: Settings
    clients: Clients
    pipeline: Pipeline
    store: ResourceStore
    stream: Stream
    capture_queue: str
    sqs: Any
    log_stream: io.StringIO

    def logs(self) -> list[dict[str, Any]]:
        """Every JSON log line the pipeline's Logger wrote so far."""
        return [json.loads(line) for line in self.log_stream.getvalue().splitlines() if line.startswith("{")]

    # ---- App Mesh resources ---------------------------------------------------------
    def put(self, kind: Kind, mesh: str, name: str, spec: Mapping[str, Any], parent: str | None = None) -> None:
        key = ResourceKey(kind, mesh, name, parent)
        model = KINDS[kind].spec.model_validate(dict(spec))
        if self.store.get_item(key) is None:
            self.store.create(key, model)
        else:
            self.store.update(key, model)

    def delete(self, kind: Kind, mesh: str, name: str, parent: str | None = None) -> None:
        self.store.delete(ResourceKey(kind, mesh, name, parent))

    # ---- handlers -------------------------------------------------------------------
    def ecs(self, events: Sequence[Mapping[str, Any] | str]) -> dict[str, Any]:
        return self.pipeline.ecs_events(sqs_batch(events), LambdaContext())

    def cloudmap(self, events: Sequence[Mapping[str, Any] | str]) -> dict[str, Any]:
        return self.pipeline.cloudmap_events(sqs_batch(events), LambdaContext())

    def recompute(self) -> dict[str, Any]:
        """Deliver everything the stream holds to the recompute handler, as Lambda would."""
        records = self.stream.drain()
        return self.pipeline.recompute({"Records": records}, LambdaContext())

    def reconcile(self) -> dict[str, Any]:
        return self.pipeline.reconcile(sample("scheduled_event.json"), LambdaContext())

    # ---- what was published ---------------------------------------------------------
    def snapshot(self, proxy: ProxyId) -> Snapshot | None:
        pointer = self.pipeline.pointers.get(proxy.path)
        if pointer is None:
            return None
        return snapshot_bucket(self.clients.s3, self.settings.bucket).fetch(pointer)

    def announcements(self) -> list[dict[str, Any]]:
        """ConfigPublished details received since the last call."""
        found = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.capture_queue, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"])["detail"])
                self.sqs.delete_message(QueueUrl=self.capture_queue, ReceiptHandle=message["ReceiptHandle"])

    def endpoints(self, mesh: str, node: str) -> tuple[Any, ...]:
        return self.pipeline.endpoints.endpoints(NodeRef(mesh, node))


_MODELS = botocore.loaders.create_loader()  # the service models read from disk once for every world


def shared_model_session() -> boto3.session.Session:
    """A fresh session (credentials and region read from the environment now) that shares the loaded service
    models, so a world's ten clients cost no JSON parsing after the first world."""
    core = botocore.session.Session()
    core.register_component("data_loader", _MODELS)
    return boto3.session.Session(botocore_session=core, region_name=REGION)


class NoMockActive(RuntimeError):
    """A world's client was about to send a request while no `mock_aws` was active."""


def _refuse_unmocked(request: Any, **_: Any) -> None:
    """A `before-send` handler: with moto's stubber off, the request would go to the network, and a test client must
    never reach real AWS (botocore runs every `before-send` handler; the stubber answers when on)."""
    if not botocore_stubber.enabled:
        raise NoMockActive(f"no mock_aws is active: refusing to send {request.method} {request.url}")


_HANDLER_CHANGES = ("register", "register_first", "register_last", "unregister")
_CLIENT_ENVIRONMENT = ("AWS_", "BOTO", "REQUESTS_CA_BUNDLE")  # what botocore reads when it makes a client (and proxies)


@dataclass
class _Kept:
    """A client made for a world, and what says whether it can serve the next world as if new."""

    client: Any
    made_with: dict[str, Any]  # the client's attributes as made: a test that replaces one leaves it unusable
    handlers_changed: bool = False

    @classmethod
    def make(cls, session: boto3.session.Session, service: str) -> _Kept:
        client = session.client(service)
        client.meta.events.register_last("before-send", _refuse_unmocked)
        kept = cls(client, dict(vars(client)))
        emitter = client.meta.events
        for name in _HANDLER_CHANGES:  # instance attributes: only this client's emitter is watched
            setattr(emitter, name, kept._noting(getattr(emitter, name)))
        return kept

    def _noting(self, change: Callable[..., Any]) -> Callable[..., Any]:
        def noted(*args: Any, **kwargs: Any) -> Any:
            self.handlers_changed = True
            return change(*args, **kwargs)

        return noted

    def as_made(self) -> bool:
        """Whether nothing a test could have done to the client (handlers, attributes) changed it."""
        now = vars(self.client)  # botocore fills attributes made None (`_exceptions`) on first use
        return (not self.handlers_changed and now.keys() == self.made_with.keys()
                and all(now[name] is value for name, value in self.made_with.items() if value is not None))


class WorldClients:
    """Boto3 clients handed from one test's world to the next, since making ten clients costs more than the rest
    of a world together.

    A world takes its clients out (no two live worlds share one) and `aws_env` gives them back when its test's
    mock ends.  A client is given back only as it was made: one whose event handlers or attributes a test changed
    is dropped, and the next world gets a new one.  Clients are kept per value of the environment botocore reads
    when it makes a client (`AWS_*`: credentials, region, settings; CA bundle, proxies), so a world's clients
    read the environment as new ones would.  Each refuses to send while no mock is active (`NoMockActive`).
    """

    def __init__(self) -> None:
        self._idle: dict[tuple[tuple[str, str], ...], dict[str, list[_Kept]]] = {}
        self._scopes: list[list[tuple[tuple[tuple[str, str], ...], str, _Kept]]] = []

    def take(self, services: Sequence[str]) -> dict[str, Any]:
        if not botocore_stubber.enabled:
            raise NoMockActive("make_world needs an active mock_aws")
        environment = tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith(_CLIENT_ENVIRONMENT)
                                   or k.upper().endswith("_PROXY")))
        idle = self._idle.setdefault(environment, {})
        session: boto3.session.Session | None = None
        taken: dict[str, Any] = {}
        for service in services:
            pool = idle.setdefault(service, [])
            if pool:
                kept = pool.pop()
            else:
                session = session or shared_model_session()
                kept = _Kept.make(session, service)
            if self._scopes:
                self._scopes[-1].append((environment, service, kept))
            taken[service] = kept.client
        return taken

    @contextmanager
    def lent(self) -> Iterator[None]:
        """Clients taken inside come back to be reused when it ends; taken outside any, they are never reused."""
        scope: list[tuple[tuple[tuple[str, str], ...], str, _Kept]] = []
        self._scopes.append(scope)
        try:
            yield
        finally:
            self._scopes.remove(scope)
            for environment, service, kept in scope:
                if kept.as_made():
                    self._idle[environment][service].append(kept)


WORLD_CLIENTS = WorldClients()
SERVICES = ("dynamodb", "s3", "events", "sqs", "ecs", "servicediscovery", "ec2", "acm", "acm-pca", "dynamodbstreams")


def make_world(*, atomic: bool = False, validators: Sequence[Any] | None = None,
               collaborators: Any = None, production_clients: bool = False, limits: Limits | None = None) -> World:
    """`production_clients` uses `Clients.create` (standard retry mode) instead of plain clients; `limits` are the
    resource store's quotas (App Mesh's defaults unless given)."""
    settings = Settings(table="meshplane-state", bucket="meshplane-snapshots", bus="meshplane", region=REGION)
    moto_cloudmap_operations.install()  # ListOperations as AWS answers it, as local up's emulator has it
    made = WORLD_CLIENTS.take(SERVICES)
    dynamodb = made["dynamodb"]
    schema.create_table(dynamodb, settings.table)
    s3 = made["s3"]
    s3.create_bucket(Bucket=settings.bucket)
    events = made["events"]
    events.create_event_bus(Name=settings.bus)
    sqs = made["sqs"]
    queue = sqs.create_queue(QueueName="config-published")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="capture", EventBusName=settings.bus,
                    EventPattern=json.dumps({"source": ["meshplane.pipeline"], "detail-type": ["ConfigPublished"]}))
    events.put_targets(Rule="capture", EventBusName=settings.bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    if production_clients:
        clients = Clients.create(settings, {})
    else:
        clients = Clients(
            dynamodb=AtomicWrites(dynamodb) if atomic else dynamodb, s3=s3, events=events,
            ecs=made["ecs"], servicediscovery=made["servicediscovery"],
            ec2=made["ec2"], acm=made["acm"], acm_pca=made["acm-pca"],
        )
    parts = collaborators or Collaborators.default(settings, clients)
    if validators is not None:
        parts = Collaborators(parts.loader, parts.graph, parts.translator, list(validators))
    log_stream = io.StringIO()
    pipeline = Pipeline(settings, clients, parts, Telemetry.from_env(log_stream))
    store = ResourceStore(settings.table, dynamodb, region=REGION, limits=limits)
    return World(settings, clients, pipeline, store, Stream(dynamodb, made["dynamodbstreams"], settings.table),
                 queue, sqs, log_stream)


@pytest.fixture
def aws_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and Powertools settings; no AWS endpoint, so boto3 can only reach moto."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
        # Powertools keeps one logger (and its stream) per service name: one name per test.
        "POWERTOOLS_SERVICE_NAME": f"meshplane-pipeline-test-{uuid.uuid4().hex[:8]}",
        "POWERTOOLS_METRICS_NAMESPACE": "MeshplaneTest",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def aws_env(aws_vars: None) -> Iterator[None]:
    """moto for one test; the clients of the worlds made in it are reused by later tests' worlds once it ends."""
    with WORLD_CLIENTS.lent(), mock_aws():
        yield


@pytest.fixture
def world(aws_env: None) -> World:
    return make_world()


def emf_documents(text: str) -> list[dict[str, Any]]:
    """The CloudWatch EMF documents among captured stdout lines."""
    found = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            found.append(json.loads(line))
    return found


def metric_total(documents: Sequence[Mapping[str, Any]], name: str) -> float:
    total = 0.0
    for doc in documents:
        value = doc.get(name)
        if value is None:
            continue
        total += sum(value) if isinstance(value, list) else value
    return total
