"""Every ADS replica gets every ConfigPublished event: one SQS queue per replica on the SNS topic.

Against a moto server.  moto's EventBridge cannot deliver to an SNS target (its
PutEvents raises NotImplementedError for one), so the events are published to the
topic directly; the EventBridge → SNS hop is the template's `ConfigPublishedTopicRule`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from meshplane.delivery.replica import ReplicaQueue, queue_name
from meshplane.snapshot.types import XdsType

from .harness import Aws, Publisher, ThreadedAds
from .rawclient import RawStream, sotw
from .snapshots import snapshot

EDS = XdsType.ENDPOINTS.type_url


@pytest.fixture
def topic_aws(aws: Aws) -> Aws:
    aws.create_topic()
    return aws


def replica_queues(aws: Aws, prefix: str) -> list[str]:
    return aws.client("sqs").list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])


def subscriptions(aws: Aws) -> list[dict[str, str]]:
    return aws.client("sns").list_subscriptions_by_topic(TopicArn=aws.topic_arn)["Subscriptions"]


def first_eds(ads: ThreadedAds, node: str) -> tuple[RawStream, str]:
    stream = RawStream(ads.address)
    stream.send(sotw(EDS, node, names=("cds_a_1",)))
    response = stream.recv()
    stream.send(sotw(EDS, names=("cds_a_1",), version=response.version_info, nonce=response.nonce))
    return stream, response.version_info


@pytest.fixture
def replicas(topic_aws: Aws) -> Iterator[tuple[str, list[ThreadedAds]]]:
    prefix = f"t{uuid.uuid4().hex[:8]}-ads"
    started: list[ThreadedAds] = []
    try:
        for _ in range(2):
            started.append(ThreadedAds(topic_aws, queue_url=None, topic_arn=topic_aws.topic_arn, queue_prefix=prefix))
        yield prefix, started
    finally:
        for replica in started:
            replica.stop()


def test_two_replicas_each_receive_one_published_event_and_remove_their_queues_on_shutdown(
    topic_aws: Aws, publisher: Publisher, replicas: tuple[str, list[ThreadedAds]]
) -> None:
    prefix, (one, two) = replicas
    node = f"mesh/m{uuid.uuid4().hex[:6]}/virtualNode/a"
    publisher.publish(snapshot(node, "a"), notify=False)
    assert len(replica_queues(topic_aws, prefix)) == 2
    raw = [s for s in subscriptions(topic_aws) if s["Protocol"] == "sqs"]
    assert len(raw) == 2
    sns = topic_aws.client("sns")
    assert all(
        sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])["Attributes"]["RawMessageDelivery"]
        == "true"
        for s in raw
    )

    streams = [first_eds(replica, node) for replica in (one, two)]
    publisher.publish(snapshot(node, "a", endpoints=("10.0.0.7",)))  # one message, on the topic
    for stream, first_version in streams:
        pushed = stream.recv(timeout=15)
        assert pushed.type_url == EDS and pushed.version_info != first_version
        stream.close()
    assert one.metrics().events_received == 1 and two.metrics().events_received == 1

    one.stop()
    two.stop()
    assert replica_queues(topic_aws, prefix) == []
    assert subscriptions(topic_aws) == []


def test_a_queue_left_behind_by_a_crashed_replica_does_not_stop_the_others(
    topic_aws: Aws, publisher: Publisher
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}-ads"
    leftover = ReplicaQueue(topic_aws.client("sqs"), topic_aws.client("sns"), topic_aws.topic_arn,
                            queue_name(prefix, "crashed"))  # fmt: skip
    leftover.open()  # and never closed, as after a SIGKILL
    node = f"mesh/m{uuid.uuid4().hex[:6]}/virtualNode/a"
    publisher.publish(snapshot(node, "a"), notify=False)
    replica = ThreadedAds(topic_aws, queue_url=None, topic_arn=topic_aws.topic_arn, queue_prefix=prefix)
    try:
        stream, first_version = first_eds(replica, node)
        publisher.publish(snapshot(node, "a", endpoints=("10.0.0.8",)))
        assert stream.recv(timeout=15).version_info != first_version
        stream.close()
    finally:
        replica.stop()
        leftover.close()
    assert replica_queues(topic_aws, prefix) == []


def test_a_replica_queue_name_that_sqs_would_refuse_is_an_error_not_a_truncation() -> None:
    assert queue_name("shop-ads", "abc123") == "shop-ads-abc123"
    with pytest.raises(ValueError):
        queue_name("x" * 80 + "-ads", "abc123")
    with pytest.raises(ValueError):
        queue_name("bad.name", "abc123")
