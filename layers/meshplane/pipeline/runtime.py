"""The pipeline entry points, as methods of one object built per Lambda container.

Handlers are thin: `functions/<name>/app.py` calls `current(context).<name>(event, context)`.
Each entry point runs inside Powertools' Logger (JSON, Lambda context, correlation
id), Tracer (a no-op outside Lambda or with `POWERTOOLS_TRACE_DISABLED=true`) and
Metrics (EMF flushed when the invocation ends).

Failure semantics:
- SQS batches (ECS and Cloud Map events, recompute shards) use Powertools' BatchProcessor: a record
  that raises is reported in `batchItemFailures`, so SQS redelivers only it and,
  after `maxReceiveCount`, moves it to the DLQ; the reason is logged with the
  event id.  Duplicates are absorbed by Powertools Idempotency (records in this
  table, partition `EVT#<function>`, TTL `expiresAt`) and, underneath, by the
  ordered conditional writes of the endpoint store.
- DynamoDB stream batches are aggregated per mesh; a mesh whose recompute fails
  reports its earliest sequence number, so Lambda retries from there.
  A plan with more proxies than the shard threshold is sent to the shard queue
  instead (`pipeline.shards`), where `recompute_shard` rebuilds it in parallel.
- The reconcile (`pipeline.reconcile`) repairs what its change markers name each pass,
  and sweeps everything (Cloud Map, ECS, every proxy) every `reconcile_sweep_seconds`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported per entry point at run time, so a handler's cold start pays only for its own parts
    from meshplane.config import Settings
    from meshplane.pipeline.acm import AcmSecrets, Resolution
    from meshplane.pipeline.cloudmap import CloudMapDiscovery
    from meshplane.pipeline.directory import Directory, NodeInfo
    from meshplane.pipeline.ecs_mapping import CloudMapNames, TaskMapper
    from meshplane.pipeline.publish import Publisher
    from meshplane.pipeline.recompute import Recomputer
    from meshplane.pipeline.shards import QueueFanout, ShardWorker
    from meshplane.pipeline.telemetry import Telemetry
    from meshplane.pipeline.wiring import AwsClients, Collaborators
    from meshplane.snapshot.snapshot import Snapshot
    from meshplane.store.endpoints import EndpointStore
    from meshplane.store.index import DependencyIndex
    from meshplane.store.pointers import PointerStore

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
IDEMPOTENCY_SECONDS = 3600


class AcmOnFirstUse:
    """One recompute's ACM resolver, made when a rebuild first asks it for secrets.

    Why: making it imports `pipeline.acm`, and with it the translator's TLS names, the
    snapshot types and Envoy's secret protos (about 100 ms of a cold start), while a
    recompute that builds no proxy in full never asks: its mesh is gone, its change
    reaches no proxy, only endpoints changed, or the plan went to the shard queue.
    The shard worker's threads share one, hence the lock.
    """

    def __init__(self, make: Callable[[], AcmSecrets]) -> None:
        self._make = make
        self._made: AcmSecrets | None = None
        self._lock = threading.Lock()

    @property
    def made(self) -> bool:
        return self._made is not None

    def resolve(
        self, snapshot: Snapshot, previous: Callable[[], Snapshot | None], stamps: Mapping[str, str]
    ) -> Resolution:
        with self._lock:
            if self._made is None:
                self._made = self._make()
        return self._made.resolve(snapshot, previous, stamps)


class Pipeline:
    """The stores and parts are built when an entry point first needs them, never at import."""

    def __init__(
        self,
        settings: Settings,
        clients: AwsClients,
        collaborators: Collaborators,
        telemetry: Telemetry,
        *,
        sweep_seconds: float = 3600,
        ecs_clusters: tuple[str, ...] = (),
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.parts = collaborators
        self.telemetry = telemetry
        self.sweep_seconds = sweep_seconds
        self.ecs_clusters = ecs_clusters

    @cached_property
    def endpoints(self) -> EndpointStore:
        from meshplane.store.endpoints import EndpointStore

        return EndpointStore(self.settings.table, self.clients.dynamodb)

    @cached_property
    def pointers(self) -> PointerStore:
        from meshplane.store.pointers import PointerStore

        return PointerStore(self.settings.table, self.clients.dynamodb)

    @cached_property
    def index(self) -> DependencyIndex:
        from meshplane.store.index import DependencyIndex

        return DependencyIndex(self.settings.table, self.clients.dynamodb)

    @cached_property
    def discovery(self) -> CloudMapDiscovery:
        from meshplane.pipeline.cloudmap import CloudMapDiscovery

        return CloudMapDiscovery(self.clients.servicediscovery, self.endpoints, telemetry=self.telemetry)

    @cached_property
    def publisher(self) -> Publisher:
        """Its S3 and EventBridge clients are made when it first publishes or reads a snapshot: a recompute
        that publishes nothing (its mesh is gone, or the plan went to the shard queue) needs neither."""
        from meshplane.pipeline.publish import Publisher
        from meshplane.pipeline.xray_client import ClientOnFirstUse

        clients = self.clients
        return Publisher(
            bucket=self.settings.bucket,
            bus=self.settings.bus,
            s3=ClientOnFirstUse(lambda: clients.s3),
            events=ClientOnFirstUse(lambda: clients.events),
            pointers=self.pointers,
            index=self.index,
            validators=self.parts.validators,
            telemetry=self.telemetry,
        )

    @cached_property
    def recomputer(self) -> Recomputer:
        from meshplane.pipeline.recompute import Recomputer

        parts = self.parts
        return Recomputer(
            loader=parts.loader,
            endpoints=self.endpoints,
            graph=parts.graph,
            translator=parts.translator,
            pointers=self.pointers,
            index=self.index,
            publisher=self.publisher,
            telemetry=self.telemetry,
            secrets=self.acm_secrets,
            fanout=self.fanout,
        )

    @cached_property
    def fanout(self) -> QueueFanout | None:
        """Hot changes to the shard queue, where one is configured (`pipeline.shards`)."""
        from meshplane.pipeline.shards import QueueFanout, ShardPolicy

        s = self.settings
        if not s.shard_queue_url:
            return None
        return QueueFanout(self.clients.sqs, s.shard_queue_url, ShardPolicy(s.shard_threshold, s.shard_size),
                           self.telemetry)

    @cached_property
    def shard_worker(self) -> ShardWorker:
        """The shard function's worker: its own publisher, whose events and index entries go out in batches."""
        from meshplane.pipeline.publish import Publisher
        from meshplane.pipeline.recompute import Recomputer
        from meshplane.pipeline.shard_io import BatchedIndex, EventBatch
        from meshplane.pipeline.shards import ShardWorker

        s, parts = self.settings, self.parts
        events, index = EventBatch(self.clients.events, self.telemetry), BatchedIndex(s.table, self.clients.dynamodb)
        publisher = Publisher(bucket=s.bucket, bus=s.bus, s3=self.clients.s3, events=events, pointers=self.pointers,
                              index=index, validators=parts.validators, telemetry=self.telemetry)
        recomputer = Recomputer(loader=parts.loader, endpoints=self.endpoints, graph=parts.graph,
                                translator=parts.translator, pointers=self.pointers, index=index,
                                publisher=publisher, telemetry=self.telemetry, secrets=self.acm_secrets)
        return ShardWorker(recomputer=recomputer, loader=parts.loader, pointers=self.pointers,
                           telemetry=self.telemetry, secrets=self.acm_secrets, batches=(index, events))

    def acm_secrets(self) -> AcmOnFirstUse:
        """A fresh ACM resolver for one recompute (it remembers answers for that batch only), made on first use."""
        return AcmOnFirstUse(self._new_acm_secrets)

    def _new_acm_secrets(self) -> AcmSecrets:
        from meshplane.model.acm_arns import Home
        from meshplane.pipeline.acm import AcmSecrets
        from meshplane.pipeline.acm_boto import BotoAcm

        home = Home(self.settings.partition, self.settings.region, self.settings.account)
        return AcmSecrets(BotoAcm(self.clients), home=home)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, owner: tuple[str, str] | None = None) -> Pipeline:
        """`owner` is the (partition, account) of the invoked function's ARN; None keeps the environment's."""
        import os

        from meshplane.config import Settings
        from meshplane.pipeline.telemetry import Telemetry
        from meshplane.pipeline.wiring import Clients, Collaborators

        env = os.environ if env is None else env
        settings = Settings.from_env(env, owner=owner)
        clients = Clients.create(settings, env)
        return cls(
            settings,
            clients,
            Collaborators.default(settings, clients),
            Telemetry.from_env(),
            sweep_seconds=settings.reconcile_sweep_seconds,
            ecs_clusters=settings.ecs_clusters,
        )

    # ---- shared -----------------------------------------------------------------------
    def directory(self) -> Directory:
        """Every virtual node, read without the rest of the meshes (`node_directory`)."""
        from meshplane.pipeline.node_directory import NodeReader

        reader = NodeReader(self.clients.dynamodb, self.settings.table)
        return reader.read(self.parts.loader.list_mesh_names()).directory

    @cached_property
    def cloud_map_names(self) -> CloudMapNames:
        """The Cloud Map service names this container has looked up, kept across invocations."""
        from meshplane.pipeline.ecs_mapping import CloudMapNames

        return CloudMapNames()

    def mapper(self, directory: Directory) -> TaskMapper:
        from meshplane.pipeline.ecs_mapping import TaskMapper

        return TaskMapper(directory, self.clients, self.cloud_map_names)

    def _wrap(self, run: Handler, name: str) -> Handler:
        """Powertools around an entry point; a caller without a Lambda context still gets logs and metrics."""
        t = self.telemetry
        run.__name__ = name  # the handler's X-Ray subsegment is "## <name>"

        def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
            inner = run if context is None else t.logger.inject_lambda_context(run, clear_state=True)
            response: dict[str, Any] = t.metrics.log_metrics(t.tracer.capture_lambda_handler(inner))(event, context)
            return response

        return invoke

    def _applied_once(
        self, context: Any, function: str, process: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> Callable[..., dict[str, Any]]:
        """`process(body=...)` behind Powertools Idempotency: records in this table, partition `EVT#<function>`."""
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        persistence = DynamoDBPersistenceLayer(
            table_name=self.settings.table,
            key_attr="pk",
            sort_key_attr="sk",
            static_pk_value=f"EVT#{function}",
            expiry_attr="expiresAt",
            boto3_client=self.clients.dynamodb,
        )
        config = IdempotencyConfig(
            event_key_jmespath="id", raise_on_no_idempotency_key=True, expires_after_seconds=IDEMPOTENCY_SECONDS
        )
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            config.register_lambda_context(context)

        def once(body: dict[str, Any]) -> dict[str, Any]:
            return process(body)

        applied: Callable[..., dict[str, Any]] = idempotent_function(
            data_keyword_argument="body", persistence_store=persistence, config=config, key_prefix=function
        )(once)
        return applied

    def _sqs_batch(
        self, event: dict[str, Any], context: Any, function: str, process: Callable[[dict[str, Any]], dict[str, Any]],
        *, idempotent: bool = True,
    ) -> dict[str, Any]:
        """`idempotent=False`: the handler's effect depends on current state only; no idempotency record to write."""
        import json

        from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

        t = self.telemetry
        applied_once = self._applied_once(context, function, process) if idempotent else None

        def record_handler(record: Any) -> dict[str, Any]:
            t.count("EventsReceived")
            try:
                body = json.loads(record.body)
                if not isinstance(body, dict):
                    raise ValueError("the message body is not an EventBridge event object")
                t.logger.set_correlation_id(str(body.get("id") or record.message_id))
                result = applied_once(body=body) if applied_once is not None else process(body)
            except Exception as exc:
                t.count("EventsFailed")
                t.logger.exception(
                    "event failed; SQS redelivers it and the DLQ gets it after maxReceiveCount",
                    extra={
                        "messageId": record.message_id,
                        "reason": f"{type(exc).__name__}: {exc}",
                        "receiveCount": record.attributes.approximate_receive_count,
                    },
                )
                raise
            t.logger.info("event applied", extra={"result": result})
            return result

        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return dict(
            process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
        )

    # ---- entry points -----------------------------------------------------------------
    def ecs_events(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        from meshplane.pipeline.ecs_discovery import apply_task_event

        def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
            mapper = self.mapper(self.directory())
            return self._sqs_batch(
                event,
                context,
                "ecs_events",
                lambda body: apply_task_event(body, mapper, self.endpoints, self.telemetry),
            )

        return self._wrap(run, "ecs_events")(event, context)

    def cloudmap_events(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        from meshplane.pipeline.cloudmap_events import refresh_for_call

        def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
            from meshplane.pipeline.directory import Directory
            from meshplane.pipeline.node_directory import NodeReader

            reader = NodeReader(self.clients.dynamodb, self.settings.table)
            names = self.mapper(Directory()).cloud_map_service  # resolves ids; maps no task

            def nodes_of(namespace: str, service: str) -> list[NodeInfo]:
                return reader.for_cloud_map(namespace, service).by_cloud_map(namespace, service)

            return self._sqs_batch(
                event,
                context,
                "cloudmap_events",
                lambda body: refresh_for_call(body, nodes_of, names, self.discovery, self.telemetry),
                idempotent=False,  # the event only names a service, which is read again from Cloud Map
            )

        return self._wrap(run, "cloudmap_events")(event, context)

    def recompute(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        from meshplane.pipeline.changes import collect

        def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
            t = self.telemetry
            records = event.get("Records", [])
            t.count("EventsReceived", len(records))
            failures: list[dict[str, str]] = []
            for mesh, changes in sorted(collect(records).items()):
                try:
                    outcome = self.recomputer.recompute(
                        mesh, changes.resources, changes.endpoint_nodes, full=changes.full
                    )
                except Exception as exc:
                    t.count("EventsFailed", len(changes.sequence_numbers))
                    t.logger.exception(
                        "recompute failed; the stream retries from its first record",
                        extra={"mesh": mesh, "reason": f"{type(exc).__name__}: {exc}"},
                    )
                    failures.append({"itemIdentifier": min(changes.sequence_numbers)})
                    continue
                t.logger.info(
                    "mesh recomputed",
                    extra={
                        "mesh": mesh,
                        "changedResources": sorted(str(k) for k in changes.resources),
                        "changedEndpointNodes": sorted(changes.endpoint_nodes),
                        "full": changes.full,
                        "published": [r.proxy.path for r in outcome.published],
                        "rejected": [r.proxy.path for r in outcome.rejected],
                        "shards": outcome.shards,
                    },
                )
            return {"batchItemFailures": failures}

        return self._wrap(run, "recompute")(event, context)

    def recompute_shard(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """SQS batches of shards (`pipeline.shards`): each message is rebuilt and published on its own."""

        def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return self._sqs_batch(event, context, "recompute_shard", self.shard_worker.handle)

        return self._wrap(run, "recompute_shard")(event, context)

    def reconcile(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        from meshplane.pipeline.deadline import seconds_left
        from meshplane.pipeline.reconcile import Reconciler

        def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return Reconciler(
                clients=self.clients, table=self.settings.table, list_meshes=self.parts.loader.list_mesh_names,
                discovery=self.discovery, endpoints=self.endpoints, recomputer=self.recomputer, mapper=self.mapper,
                telemetry=self.telemetry, sweep_seconds=self.sweep_seconds, ecs_clusters=self.ecs_clusters,
                seconds_left=seconds_left(context),
            ).run()

        return self._wrap(run, "reconcile")(event, context)


class _Holder:
    pipeline: Pipeline | None = None


_holder = _Holder()


def current(context: Any = None, *, sqs: bool = False) -> Pipeline:
    """The container's pipeline, built on first use (never at import).

    The first invocation's `context` names the account and partition the function runs in
    (`meshplane.config.function_owner`); they cannot change within a container.

    `sqs=True` (the SQS batch handlers) first imports Powertools' batch utility: it
    loads its pydantic event models (about 40 ms) only when pydantic is already
    imported, and the pipeline validates no event with them.
    """
    if sqs:
        import aws_lambda_powertools.utilities.batch  # noqa: F401
    if _holder.pipeline is None:
        from meshplane.config import function_owner
        from meshplane.pipeline.coldstart import settled

        _holder.pipeline = Pipeline.from_env(owner=function_owner(context))
        settled()  # kept for the container's life: the first call's closing collection need not walk it
    return _holder.pipeline
