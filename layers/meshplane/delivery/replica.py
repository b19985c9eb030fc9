"""Each ADS replica's own SQS queue on the ConfigPublished SNS topic.

SQS hands a message to one consumer only, so replicas sharing a queue would each
miss most events.  Instead the EventBridge rule targets an SNS topic, and every
replica subscribes a queue of its own (raw delivery: the body is the EventBridge
event).  The queue lives as long as the replica: `open()` on start, `close()` on a
graceful stop.  A replica that crashes leaves its queue and subscription behind;
that harms nobody (no one else reads it, and messages expire after
`RETENTION_SECONDS`), and `envoy_bootstrap/README.md` says how to sweep them.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

RETENTION_SECONDS = 3600  # a crashed replica's queue keeps at most an hour of events
MAX_QUEUE_NAME = 80
_NAME_OK = re.compile(r"^[A-Za-z0-9_-]+$")


def queue_name(prefix: str, replica_id: str) -> str:
    """`<prefix>-<replica id>`; refuses names SQS would reject instead of silently cutting them
    (a cut name would fall outside the task role's `<stack>-ads-*` permission)."""
    name = f"{prefix}-{replica_id}"
    if len(name) > MAX_QUEUE_NAME or not _NAME_OK.match(name):
        raise ValueError(f"queue name {name!r} is not a valid SQS name (letters, digits, - and _, at most 80)")
    return name


def new_replica_id() -> str:
    return uuid.uuid4().hex[:12]


def _policy(queue_arn: str, topic_arn: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
        }],
    })  # fmt: skip


@dataclass
class ReplicaQueue:
    """Creates, subscribes, and removes one replica's queue; clients are injected."""

    sqs: Any
    sns: Any
    topic_arn: str
    name: str
    queue_url: str | None = None
    subscription_arn: str | None = None

    def open(self) -> str:
        """Create the queue, let the topic write to it, subscribe it; returns the queue URL."""
        self.queue_url = self.sqs.create_queue(
            QueueName=self.name,
            Attributes={"MessageRetentionPeriod": str(RETENTION_SECONDS), "SqsManagedSseEnabled": "true"},
            tags={"meshplane:topic": self.topic_arn[-256:]},
        )["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.sqs.set_queue_attributes(QueueUrl=self.queue_url, Attributes={"Policy": _policy(arn, self.topic_arn)})
        self.subscription_arn = self.sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "true"},
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        log.info("replica queue %s subscribed to %s", self.name, self.topic_arn)
        return self.queue_url

    def close(self) -> None:
        """Unsubscribe first (so SNS stops writing), then delete; each step is tried even if the other fails."""
        if self.subscription_arn:
            try:
                self.sns.unsubscribe(SubscriptionArn=self.subscription_arn)
                self.subscription_arn = None
            except Exception:
                log.exception("unsubscribing %s failed", self.subscription_arn)
        if self.queue_url:
            try:
                self.sqs.delete_queue(QueueUrl=self.queue_url)
                self.queue_url = None
            except Exception:
                log.exception("deleting queue %s failed", self.name)
        log.info("replica queue %s removed", self.name)
