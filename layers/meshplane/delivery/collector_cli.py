"""`meshplane stats-collector`: put one Envoy's per-cluster response classes and request times to CloudWatch."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Mapping
from typing import Any

from meshplane import envvars
from meshplane.cliargs import UsageError, add_command, configure_logging, env_option, log_level_option
from meshplane.model.rollout.metrics import DEFAULT_NAMESPACE


def register(subparsers: Any, env: Mapping[str, str]) -> None:
    parser = add_command(subparsers, "stats-collector", run,
                         help="read an Envoy's admin /stats each period and put its per-cluster 2xx..5xx counts "
                         "and request times to CloudWatch, where rollouts read them")  # fmt: skip
    parser.add_argument("--admin-url", default="http://127.0.0.1:9901", help="the Envoy's admin address")
    env_option(parser, "--namespace", env=env, names=envvars.ROLLOUT_METRICS_NAMESPACE, default=DEFAULT_NAMESPACE,
               help="the CloudWatch namespace (the rollout controller's)")
    parser.add_argument("--period", type=float, default=10.0, help="seconds between two reads")
    parser.add_argument("--cluster-prefix", default="cds_egress_",
                        help="only clusters whose name starts with this (default: the mesh's upstreams)")
    env_option(parser, "--region", env=env, names=envvars.REGION, help="the CloudWatch region")
    log_level_option(parser)


def run(args: argparse.Namespace) -> int:
    import boto3

    from meshplane.delivery.stats_collector import Collector

    configure_logging(args.log_level)
    if args.period <= 0:
        raise UsageError(f"--period must be positive, got {args.period}")
    collector = Collector(args.admin_url, boto3.client("cloudwatch", region_name=args.region), args.namespace,
                          args.cluster_prefix)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    collector.run(args.period, stop)
    return 0
