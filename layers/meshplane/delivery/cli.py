"""`meshplane ads` and `meshplane agent`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

from meshplane.config import Settings
from meshplane.delivery import compatflags
from meshplane.delivery.limits_defaults import MAX_REQUEST_BYTES, MAX_STREAMS_PER_PEER, UNKNOWN_TTL_S
from meshplane.identity import adsflags as identity_flags


def register(subparsers: Any) -> None:
    ads = subparsers.add_parser("ads", help="run the ADS gRPC server (SotW and Delta)")
    ads.add_argument("--host", default="0.0.0.0")
    ads.add_argument("--port", type=int, default=18000)
    ads.add_argument("--bucket", help="snapshot bucket (default: MESHPLANE_BUCKET)")
    ads.add_argument("--table", help="DynamoDB table whose pointer items the safety resync reads")
    ads.add_argument("--queue-url", help="a fixed SQS queue of ConfigPublished events (one replica only)")
    ads.add_argument(
        "--topic-arn",
        help="ConfigPublished SNS topic: this replica subscribes a queue of its own "
        "(default: MESHPLANE_CONFIG_TOPIC_ARN)",
    )
    ads.add_argument(
        "--queue-prefix",
        help="name prefix of the replica queue, <stack>-ads on AWS (default: MESHPLANE_ADS_QUEUE_PREFIX)",
    )
    ads.add_argument("--replica-id", help="unique suffix of the replica queue (default: random)")
    ads.add_argument("--resync-seconds", type=float, default=300.0, help="safety resync of cached nodes' pointers")
    ads.add_argument("--grace-seconds", type=float, default=5.0, help="drain period on SIGTERM")
    ads.add_argument("--poll-wait-seconds", type=int, default=5, help="SQS long-poll wait")
    ads.add_argument(
        "--cache-nodes", type=int, default=1000,
        help="prepared snapshots kept for nodes without a stream (LRU), so a node's first Envoy is served "
        "from memory; 0 loads on connect",
    )  # fmt: skip
    ads.add_argument(
        "--cache-mb", type=int, default=256,
        help="and at most this many MiB of them (estimated from the snapshot and response bytes they hold; "
        "the least recently used go first when either bound is reached; nodes with a stream never count "
        "or go). Keep it well under the task's memory; 0 keeps no idle snapshot, like --cache-nodes 0",
    )  # fmt: skip
    ads.add_argument("--no-preload", action="store_true", help="do not warm the latest snapshots at startup")
    ads.add_argument(
        "--max-request-bytes", type=int, default=MAX_REQUEST_BYTES,
        help=f"largest xDS request accepted; a larger one ends its stream with RESOURCE_EXHAUSTED "
        f"(default: {MAX_REQUEST_BYTES})",
    )  # fmt: skip
    ads.add_argument(
        "--max-streams-per-peer", type=int, default=MAX_STREAMS_PER_PEER,
        help=f"open streams one client address may hold; more end at once with RESOURCE_EXHAUSTED, 0: no bound "
        f"(default: {MAX_STREAMS_PER_PEER})",
    )  # fmt: skip
    ads.add_argument(
        "--unknown-node-seconds", type=float, default=UNKNOWN_TTL_S,
        help=f"a node found unpublished is answered NOT_FOUND from memory this long, unless its ConfigPublished "
        f"event comes first; 0 reads the store for every stream (default: {UNKNOWN_TTL_S:g})",
    )  # fmt: skip
    ads.add_argument("--tls-cert", help="server certificate chain (default with a node CA: issued by it)")
    ads.add_argument("--tls-key")
    ads.add_argument("--tls-client-ca", help="require client certificates naming the proxy (with a node CA: "
                     "a further CA whose certificates may open streams)")  # fmt: skip
    identity_flags.add_arguments(ads)
    compatflags.add_arguments(ads)
    ads.add_argument("--log-level", default="INFO")
    ads.set_defaults(func=run_ads)

    agent = subparsers.add_parser("agent", help="write a proxy's xDS files from S3 (file mode)")
    agent.add_argument("--node-id", required=True)
    agent.add_argument("--dir", required=True, help="directory Envoy's path-based xDS watches")
    agent.add_argument("--bucket", help="snapshot bucket (default: MESHPLANE_BUCKET)")
    agent.add_argument("--bind-address", help="rebind listeners and the local app to this address")
    agent.add_argument("--interval", type=float, default=2.0, help="pointer poll interval in seconds")
    agent.add_argument("--once", action="store_true", help="exit after the first snapshot is written (init container)")
    agent.add_argument("--drain-seconds", type=float, default=2.0,
                       help="keep clusters a new version drops this long, so routes move off them first (0: never)")
    agent.add_argument("--log-level", default="INFO")
    agent.set_defaults(func=run_agent)


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_ads(args: argparse.Namespace) -> int:
    import boto3

    from meshplane.delivery.server.ads import TlsFiles
    from meshplane.delivery.server.limits import ServerLimits
    from meshplane.delivery.service import MIB, AdsOptions, AdsService
    from meshplane.delivery.source import DynamoDbPointers, S3Source
    from meshplane.identity.account import MeshAccount

    _logging(args.log_level)
    settings = Settings.from_env()
    bucket = args.bucket or settings.bucket
    s3 = boto3.client("s3", region_name=settings.region)
    source = (
        DynamoDbPointers(s3, bucket, boto3.client("dynamodb", region_name=settings.region), args.table)
        if args.table
        else S3Source(s3, bucket)
    )
    topic_arn = args.topic_arn or os.environ.get("MESHPLANE_CONFIG_TOPIC_ARN")
    tls = TlsFiles(args.tls_cert, args.tls_key, args.tls_client_ca) if args.tls_cert and args.tls_key else None
    appmesh_compat = compatflags.compat_port(args, settings.region, boto3.Session())
    identity = identity_flags.node_identity(args, settings.region, bucket, boto3.Session())
    options = AdsOptions(
        host=args.host,
        port=args.port,
        queue_url=args.queue_url,
        topic_arn=topic_arn,
        queue_prefix=args.queue_prefix or os.environ.get("MESHPLANE_ADS_QUEUE_PREFIX") or "meshplane-ads",
        replica_id=args.replica_id,
        resync_seconds=args.resync_seconds,
        grace_seconds=args.grace_seconds,
        poll_wait_seconds=args.poll_wait_seconds,
        tls=tls,
        retain_nodes=args.cache_nodes,
        retain_bytes=args.cache_mb * MIB,
        preload=not args.no_preload,
        identity=identity,
        home=MeshAccount(settings.partition, settings.region, settings.account),
        limits=ServerLimits(args.max_request_bytes, args.max_streams_per_peer),
        unknown_ttl_seconds=args.unknown_node_seconds,
        appmesh_compat=appmesh_compat,
    )
    if args.queue_url and topic_arn:
        raise SystemExit("meshplane ads: give --queue-url or --topic-arn, not both")
    sqs = boto3.client("sqs", region_name=settings.region) if args.queue_url or topic_arn else None
    sns = boto3.client("sns", region_name=settings.region) if topic_arn else None
    asyncio.run(AdsService(source, options, sqs, sns).serve_until_signalled())
    # Everything worth keeping is in AWS: skip tearing down thousands of gRPC objects one by one.
    logging.shutdown()
    os._exit(0)


def run_agent(args: argparse.Namespace) -> int:
    import boto3

    from meshplane.delivery.agent import Agent, FileWriter
    from meshplane.delivery.source import S3Source
    from meshplane.model.ids import ProxyId

    _logging(args.log_level)
    settings = Settings.from_env()
    source = S3Source(boto3.client("s3", region_name=settings.region), args.bucket or settings.bucket)
    drain = 0.0 if args.once else args.drain_seconds  # an init container runs before Envoy: nothing to keep
    agent = Agent(source, ProxyId.parse(args.node_id), FileWriter(Path(args.dir)), args.bind_address,
                  drain_seconds=drain, pause_before_routes=0.2 if drain else 0.0)  # fmt: skip
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    if args.once:
        while not stopped.is_set() and not agent.sync_once():
            stopped.wait(args.interval)
        return 0
    agent.run(args.interval, stopped.is_set)
    return 0
