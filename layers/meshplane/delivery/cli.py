"""`meshplane ads` and `meshplane agent`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from meshplane import envvars
from meshplane.cliargs import (
    CommandFailed,
    UsageError,
    add_command,
    configure_logging,
    env_option,
    environment,
    log_level_option,
)
from meshplane.config import DEFAULT_ACCOUNT, DEFAULT_REGION
from meshplane.delivery import compatflags, defaults
from meshplane.delivery.limits_defaults import (
    IDLE_MOST_S,
    IDLE_QUIET_S,
    MAX_REQUEST_BYTES,
    MAX_STREAMS_PER_PEER,
    UNKNOWN_TTL_S,
)
from meshplane.identity import adsflags as identity_flags
from meshplane.model.ids import DEFAULT_PARTITION, ProxyId

log = logging.getLogger(__name__)
# The ADS server reads this node's pointer once before serving: no mesh is expected to hold it, so the answer
# is "not published", or why the store cannot be read at all.
STARTUP_PROBE = "mesh/meshplane-startup-check/virtualNode/probe"


def register(subparsers: Any, env: Mapping[str, str] | None = None) -> None:
    env = environment(env)
    ads = add_command(subparsers, "ads", run_ads, help="run the ADS gRPC server (SotW and Delta)")
    _listener_arguments(ads)
    _store_arguments(ads.add_argument_group("snapshot store"), env)
    _event_arguments(ads.add_argument_group("ConfigPublished events"), env)
    _cache_arguments(ads.add_argument_group("snapshot cache"))
    identity_flags.add_arguments(ads, env)
    compatflags.add_arguments(ads)
    log_level_option(ads)
    _agent_arguments(add_command(subparsers, "agent", run_agent,
                                 help="write a proxy's xDS files from S3 (file mode)"), env)  # fmt: skip


def _listener_arguments(ads: argparse.ArgumentParser) -> None:
    flag = ads.add_argument
    flag("--host", default=defaults.ADS_HOST, help="address to listen on")
    flag("--port", type=int, default=defaults.ADS_PORT, help="the ADS port")
    flag("--grace-seconds", type=float, default=defaults.GRACE_SECONDS, help="drain period on SIGTERM")
    flag("--max-request-bytes", type=int, default=MAX_REQUEST_BYTES,
         help="largest xDS request accepted; a larger one ends its stream with RESOURCE_EXHAUSTED")
    flag("--max-streams-per-peer", type=int, default=MAX_STREAMS_PER_PEER,
         help="open streams one client address may hold; more end at once with RESOURCE_EXHAUSTED, 0: no bound")
    flag("--tls-cert", help="server certificate chain (default: none, or issued by the node CA when there is one)")
    flag("--tls-key", help="private key of --tls-cert")
    flag("--tls-client-ca", help="require client certificates naming the proxy, issued by this CA (with a node CA: "
         "a further CA whose certificates may open streams)")  # fmt: skip


def _store_arguments(group: Any, env: Mapping[str, str]) -> None:
    env_option(group, "--bucket", env=env, names=envvars.BUCKET,
               help="the snapshot bucket, the stack's SnapshotBucketName; required")
    env_option(group, "--table", env=env, names=envvars.TABLE,
               help="the state table, whose pointer items the safety resync reads and where each Envoy's config "
               "status is recorded (default: none, the bucket's pointer objects and no status)")  # fmt: skip
    _region_arguments(group, env)
    env_option(group, "--account-id", env=env, names=envvars.ACCOUNT_ID, default=DEFAULT_ACCOUNT,
               help="the account whose proxies are served without node identity")
    env_option(group, "--partition", env=env, names=envvars.PARTITION, default=DEFAULT_PARTITION,
               help="the partition of that account")


def _region_arguments(group: Any, env: Mapping[str, str]) -> None:
    env_option(group, "--region", env=env, names=envvars.REGION, default=DEFAULT_REGION,
               help="the region of the bucket and of every AWS call")


def _event_arguments(group: Any, env: Mapping[str, str]) -> None:
    group.add_argument("--queue-url", help="a fixed SQS queue of ConfigPublished events, for one replica only "
                       "(default: none)")  # fmt: skip
    env_option(group, "--topic-arn", env=env, names=envvars.CONFIG_TOPIC_ARN,
               help="the ConfigPublished SNS topic: this replica subscribes a queue of its own (default: none)")
    env_option(group, "--queue-prefix", env=env, names=envvars.ADS_QUEUE_PREFIX, default=defaults.QUEUE_PREFIX,
               help="name prefix of the replica queue, <stack>-ads on AWS")
    group.add_argument("--replica-id", help="unique suffix of the replica queue (default: random)")
    group.add_argument("--poll-wait-seconds", type=int, default=defaults.POLL_WAIT_SECONDS, help="SQS long-poll wait")
    group.add_argument("--resync-seconds", type=float, default=defaults.RESYNC_SECONDS,
                       help="safety resync of cached nodes' pointers, should an event be lost")


def _cache_arguments(group: Any) -> None:
    flag = group.add_argument
    flag("--cache-nodes", type=int, default=defaults.CACHE_NODES,
         help="prepared snapshots kept for nodes without a stream (LRU), so a node's first Envoy is served from "
         "memory; 0 loads on connect")  # fmt: skip
    flag("--cache-mb", type=int, default=defaults.CACHE_MIB,
         help="and at most this many MiB of them (estimated from the snapshot and response bytes they hold; the "
         "least recently used go first when either bound is reached; nodes with a stream never count or go). Keep "
         "it well under the task's memory; 0 keeps no idle snapshot, like --cache-nodes 0")  # fmt: skip
    flag("--no-preload", action="store_true", help="do not warm the latest snapshots at startup")
    flag("--unknown-node-seconds", type=float, default=UNKNOWN_TTL_S,
         help="a node found unpublished is answered NOT_FOUND from memory this long, unless its ConfigPublished "
         "event comes first; 0 reads the store for every stream")  # fmt: skip
    flag("--idle-quiet-seconds", type=float, default=IDLE_QUIET_S,
         help="a ConfigPublished for a node without a stream here is read once the events pause this long, so a "
         "burst is pushed to the connected Envoys first (an Envoy connecting meanwhile gets the node read first)")
    flag("--idle-most-seconds", type=float, default=IDLE_MOST_S,
         help="or this long after its event at the latest, however long the events go on")


def _agent_arguments(agent: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    flag = agent.add_argument
    flag("--node-id", required=True, type=_proxy_id, help="the proxy: mesh/<m>/virtualNode/<n>, "
         ".../virtualGateway/<n> or the ARN")  # fmt: skip
    flag("--dir", required=True, type=Path, help="directory Envoy's path-based xDS watches")
    env_option(agent, "--bucket", env=env, names=envvars.BUCKET,
               help="the snapshot bucket, the stack's SnapshotBucketName; required")
    _region_arguments(agent, env)
    flag("--bind-address", help="rebind listeners and the local app to this address (default: as published)")
    flag("--interval", type=float, default=defaults.AGENT_INTERVAL_SECONDS, help="pointer poll interval in seconds")
    flag("--once", action="store_true", help="exit after the first snapshot is written (init container)")
    flag("--drain-seconds", type=float, default=defaults.AGENT_DRAIN_SECONDS,
         help="keep clusters a new version drops this long, so routes move off them first (0: never)")
    env_option(agent, "--table", env=env, names=envvars.TABLE,
               help="the state table, where each apply is recorded as this Envoy's config status (default: none)")
    flag("--instance", help="which Envoy of the node this is, in its status (default: the ECS task, else the host)")
    log_level_option(agent)


def _proxy_id(text: str) -> ProxyId:
    try:
        return ProxyId.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bucket(args: argparse.Namespace) -> str:
    if not args.bucket:
        raise UsageError(f"no snapshot bucket: pass --bucket or set {envvars.BUCKET} (the stack's "
                         "SnapshotBucketName)")  # fmt: skip
    return str(args.bucket)


def check_store(source: Any, proxy: ProxyId, where: str) -> None:
    """Read `proxy`'s pointer before serving: a setup no retry can fix (credentials, endpoint, bucket, table) stops
    the command with one line instead of failing every read; a failure that may pass is logged and served through.

    Access denied is expected: without s3:ListBucket, S3 answers so for a key that is not there.
    """
    from meshplane.clierrors import aws_error_code, cause_line, needs_operator

    try:
        source.pointer(proxy)
    except Exception as exc:
        if needs_operator(exc):
            raise CommandFailed(f"cannot read {where}: {cause_line(exc)}") from exc
        if aws_error_code(exc) != "AccessDenied":
            log.warning("reading %s failed, going on: %s", where, cause_line(exc))


def run_ads(args: argparse.Namespace) -> int:
    import boto3

    from meshplane.delivery.service import AdsService
    from meshplane.delivery.source import DynamoDbPointers
    from meshplane.delivery.status.writer import StatusWriter
    from meshplane.store.proxy_status import ProxyStatusStore
    from meshplane.store.s3objects import snapshot_bucket

    configure_logging(args.log_level)
    bucket = _bucket(args)
    if args.queue_url and args.topic_arn:
        raise UsageError("give --queue-url or --topic-arn, not both")
    session = boto3.Session(region_name=args.region)
    s3 = session.client("s3", region_name=args.region)
    status = None
    if args.table:
        dynamodb = session.client("dynamodb", region_name=args.region)
        source: Any = DynamoDbPointers(s3, bucket, dynamodb, args.table)
        check_store(source, ProxyId.parse(STARTUP_PROBE), f"table {args.table} and bucket {bucket}")
        status = StatusWriter(ProxyStatusStore(args.table, dynamodb), replica=args.replica_id)
    else:
        source = snapshot_bucket(s3, bucket)
        check_store(source, ProxyId.parse(STARTUP_PROBE), f"bucket {bucket}")
    options = _ads_options(args, session, bucket)
    sqs = session.client("sqs", region_name=args.region) if args.queue_url or args.topic_arn else None
    sns = session.client("sns", region_name=args.region) if args.topic_arn else None
    asyncio.run(AdsService(source, options, sqs, sns, status).serve_until_signalled())
    # Everything worth keeping is in AWS: skip tearing down thousands of gRPC objects one by one.
    logging.shutdown()
    os._exit(0)


def _ads_options(args: argparse.Namespace, session: Any, bucket: str) -> Any:
    """The server's settings: the flags, each defaulting to its variable or to `defaults`."""
    from meshplane.delivery.limits_defaults import MIB
    from meshplane.delivery.server.ads import TlsFiles
    from meshplane.delivery.server.limits import ServerLimits
    from meshplane.delivery.service import AdsOptions
    from meshplane.identity.account import MeshAccount

    return AdsOptions(
        host=args.host, port=args.port, queue_url=args.queue_url, topic_arn=args.topic_arn,
        queue_prefix=args.queue_prefix, replica_id=args.replica_id, resync_seconds=args.resync_seconds,
        grace_seconds=args.grace_seconds, poll_wait_seconds=args.poll_wait_seconds,
        tls=TlsFiles(args.tls_cert, args.tls_key, args.tls_client_ca) if args.tls_cert and args.tls_key else None,
        retain_nodes=args.cache_nodes, retain_bytes=args.cache_mb * MIB, preload=not args.no_preload,
        identity=identity_flags.node_identity(args, args.region, bucket, session),
        home=MeshAccount(args.partition, args.region, args.account_id),
        limits=ServerLimits(args.max_request_bytes, args.max_streams_per_peer),
        unknown_ttl_seconds=args.unknown_node_seconds, idle_quiet_seconds=args.idle_quiet_seconds,
        idle_most_seconds=args.idle_most_seconds,
        appmesh_compat=compatflags.compat_port(args, args.region, session),
    )  # fmt: skip


def _agent_status(args: argparse.Namespace) -> Any:
    """With a table (and not as an init container, whose Envoy has not started), where each apply is recorded."""
    if not args.table or args.once:
        return None
    import boto3

    from meshplane.delivery.status.agent import AgentReport, default_instance
    from meshplane.store.proxy_status import ProxyStatusStore

    store = ProxyStatusStore(args.table, boto3.client("dynamodb", region_name=args.region))
    return AgentReport(store, args.node_id, args.instance or default_instance())


def run_agent(args: argparse.Namespace) -> int:
    import boto3

    from meshplane.delivery.agent import Agent, FileWriter
    from meshplane.store.s3objects import snapshot_bucket

    configure_logging(args.log_level)
    bucket = _bucket(args)
    source = snapshot_bucket(boto3.client("s3", region_name=args.region), bucket)
    check_store(source, args.node_id, f"bucket {bucket}")
    drain = 0.0 if args.once else args.drain_seconds  # an init container runs before Envoy: nothing to keep
    agent = Agent(source, args.node_id, FileWriter(args.dir), args.bind_address, drain_seconds=drain,
                  pause_before_routes=0.2 if drain else 0.0, status=_agent_status(args))  # fmt: skip
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    if args.once:
        while not stopped.is_set() and not agent.sync_once():
            stopped.wait(args.interval)
        return 0
    agent.run(args.interval, stopped.is_set)
    return 0
