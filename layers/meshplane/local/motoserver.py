"""moto's server with the local stack's corrections installed: what `meshplane local up` runs as its emulator.

`python -m meshplane.local.motoserver` takes moto.server's arguments. Each entry of
`PATCHES` installs one local-only correction into moto before the server starts; they live
in this process only, so an emulator someone else runs (`AWS_ENDPOINT_URL`) is never touched.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from meshplane.local import (
    iam_emulation,
    moto_attribute_values,
    moto_cloudmap_operations,
    moto_cloudtrail,
    moto_cloudwatch,
    moto_discover,
    moto_dynamodb,
    moto_event_paths,
    moto_item_size,
    moto_overhead,
    moto_query,
    moto_sqs_send,
    moto_streams,
)

PATCHES: list[Callable[[], None]] = [
    moto_dynamodb.install,  # serialisable DynamoDB; cancelled transactions undone in place
    moto_item_size.install,  # the 400 KB item limit as DynamoDB counts it (a replaced value does not count)
    moto_query.install,  # a base-table Query reads its partition, not a sort of the whole table
    moto_overhead.install,  # moto's package listed once, not on every request; no log line per request
    moto_streams.install,  # shard iterators expire after 15 minutes instead of piling up
    moto_cloudtrail.install,  # Cloud Map instance calls put their CloudTrail event on the default bus
    moto_cloudmap_operations.install,  # ListOperations filtered, instance operations listed with their service
    moto_cloudwatch.install,  # GetMetricData answers percentile statistics (p99) as CloudWatch does
    moto_attribute_values.install,  # DynamoDB attribute values written as they are held, not member by member
    moto_sqs_send.install,  # an SQS send computes the one queue attribute it reads, not the message counts
    moto_event_paths.install,  # EventBridge's input paths parsed once each, not per event
    moto_discover.install,  # DiscoverInstances finds its service by name, not by reading every service
    iam_emulation.install,  # IAM policy simulator, policy-aware access checks, SigV4 authentication endpoint
]


def install() -> None:
    for patch in PATCHES:
        patch()


def main(argv: list[str] | None = None) -> None:
    install()
    from moto.server import main as serve

    serve(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
