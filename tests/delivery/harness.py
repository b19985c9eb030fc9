"""Delivery test harness: a moto server (S3 + SQS), a publisher following the README
contracts, and the ADS service running in-process on its own event loop thread."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import boto3
from meshplane.delivery.metrics import Metrics
from meshplane.delivery.service import AdsOptions, AdsService
from meshplane.model.ids import ProxyId
from meshplane.publication.event import ConfigPublished
from meshplane.publication.pointer import Pointer
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.store.s3objects import snapshot_bucket
from support import Envoy, http_request, wait_until

REGION = "us-east-1"


@dataclass
class Aws:
    """Clients for one moto server, plus a fresh bucket and queue per test."""

    endpoint: str
    bucket: str = field(default_factory=lambda: f"snapshots-{uuid.uuid4().hex[:12]}")
    queue_url: str = ""
    topic_arn: str = ""

    def client(self, service: str) -> Any:
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip

    def create(self) -> Aws:
        self.client("s3").create_bucket(Bucket=self.bucket)
        self.queue_url = self.client("sqs").create_queue(QueueName=f"ads-{uuid.uuid4().hex[:12]}")["QueueUrl"]
        return self

    def create_topic(self) -> str:
        """A ConfigPublished topic: the publisher then notifies through it instead of the queue."""
        self.topic_arn = self.client("sns").create_topic(Name=f"config-{uuid.uuid4().hex[:12]}")["TopicArn"]
        return self.topic_arn

    def env(self) -> dict[str, str]:
        """What a `meshplane` subprocess needs to reach this moto server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "MESHPLANE_BUCKET": self.bucket,
        }  # fmt: skip


class Publisher:
    """Publishes by the pipeline's contract (`publication.bucket.SnapshotBucket.put`) without the table:
    the last pointer of each proxy is kept here, and the event goes straight to the queue or topic."""

    def __init__(self, aws: Aws) -> None:
        self._aws = aws
        self._bucket = snapshot_bucket(aws.client("s3"), aws.bucket)
        self._sqs = aws.client("sqs")
        self._sns = aws.client("sns")
        self._pointers: dict[str, Pointer] = {}

    def publish(self, snapshot: Snapshot, *, notify: bool = True) -> list[XdsType]:
        """Returns the types that changed since this proxy's last publish, in send order."""
        proxy = ProxyId.parse(snapshot.node_id)
        announce = self._announce if notify else (lambda _event: None)
        published = self._bucket.put(proxy, snapshot, self._pointers.get(proxy.path), advance=lambda p: p,
                                     announce=announce)  # fmt: skip
        self._pointers[proxy.path] = published.pointer
        return [XdsType(kind) for kind in published.event.changed_types]

    def _announce(self, event: ConfigPublished) -> None:
        if self._aws.topic_arn:
            self._sns.publish(TopicArn=self._aws.topic_arn, Message=event.message())
        else:
            self._sqs.send_message(QueueUrl=self._aws.queue_url, MessageBody=event.message())


class ThreadedAds:
    """`AdsService` on a private event loop thread, so tests can block freely."""

    def __init__(self, aws: Aws, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        defaults: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "queue_url": aws.queue_url, "poll_wait_seconds": 1}
        opts = AdsOptions(**{**defaults, **options})
        self.service = self._call(self._build(aws, opts))
        self.port: int = self._call(self.service.start())

    async def _build(self, aws: Aws, options: AdsOptions) -> AdsService:
        return AdsService(snapshot_bucket(aws.client("s3"), aws.bucket), options, aws.client("sqs"), aws.client("sns"))

    def _call(self, coroutine: Any, timeout: float = 30.0) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def metrics(self) -> Metrics:
        """A consistent copy, taken on the server's loop."""

        async def copy() -> Metrics:
            m = self.service.metrics
            return dataclasses.replace(
                m, resources_sent=m.resources_sent.copy(), responses_sent=m.responses_sent.copy(),
                nacks=m.nacks.copy(), acks=m.acks.copy(),
            )  # fmt: skip

        return self._call(copy())

    def stop(self) -> None:
        """Idempotent: a test may stop a replica itself, before its fixture does."""
        if self._loop.is_closed():
            return
        try:
            self._call(self.service.stop(), timeout=60)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


class CountingAds(ThreadedAds):
    """The real service whose S3 client counts its operations (a botocore event hook, not a mock)."""

    s3_calls: Counter[str]

    async def _build(self, aws: Aws, options: AdsOptions) -> AdsService:
        self.s3_calls = Counter()
        s3 = aws.client("s3")
        s3.meta.events.register("before-call.s3", self._count)
        return AdsService(snapshot_bucket(s3, aws.bucket), options, aws.client("sqs"), aws.client("sns"))

    def _count(self, model: Any, **_kwargs: Any) -> None:
        self.s3_calls[model.name] += 1

    def idle_paths(self) -> list[str]:
        async def read() -> list[str]:
            return self.service.cache.idle_paths

        return self._call(read())

    def wait_preloaded(self) -> None:
        async def wait() -> None:
            assert self.service.preloaded is not None
            await self.service.preloaded

        self._call(wait())


def counters(envoy: Envoy, filter_regex: str) -> dict[str, int]:
    """Numeric stats only: with xDS, Envoy also reports text readouts (`*.version_text`)."""
    import urllib.parse

    _, body = envoy.admin_get("/stats?format=json&filter=" + urllib.parse.quote(filter_regex))
    return {s["name"]: s["value"] for s in json.loads(body).get("stats", []) if isinstance(s.get("value"), int)}


def counter(envoy: Envoy, name: str) -> int:
    return counters(envoy, "^" + name.replace(".", "\\.") + "$").get(name, 0)


def wait_live(envoy: Envoy, timeout: float = 30.0) -> None:
    """LIVE with no listener warming; the harness's own check trips over xDS text stats."""

    def live() -> bool:
        if not envoy.running:
            raise AssertionError(f"envoy exited:\n{envoy.log_tail()}")
        try:
            status, body = envoy.admin_get("/ready")
        except OSError:
            return False
        stats = counters(envoy, "^listener_manager\\.(total_listeners_warming|workers_started)$")
        return (status == 200 and body.strip() == "LIVE" and stats.get("listener_manager.total_listeners_warming") == 0
                and stats.get("listener_manager.workers_started") == 1)  # fmt: skip

    try:
        wait_until(live, timeout, what="Envoy to be LIVE")
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{envoy.log_tail()}") from None


class Traffic:
    """Requests through the sidecar every 20 ms on a thread; records who answered."""

    def __init__(self, address: str, authority: str) -> None:
        self._address, self._authority = address, authority
        self.answers: list[str | None] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.answers.append(http_request((self._address, 15001), self._authority, timeout=2).upstream)
            time.sleep(0.02)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)
