"""`meshplane bootstrap`: print an Envoy bootstrap (or a platform snippet) for one proxy."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from meshplane.bootstrap.options import PLATFORMS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("bootstrap", help="print a ready Envoy bootstrap for a proxy")
    parser.add_argument("--node-id", help="mesh/<m>/virtualNode/<n>, .../virtualGateway/<n> or the ARN "
                        "(default: APPMESH_RESOURCE_ARN, APPMESH_VIRTUAL_NODE_NAME)")  # fmt: skip
    parser.add_argument("--mode", choices=("ads", "file"))
    parser.add_argument("--platform", choices=PLATFORMS)
    parser.add_argument("--ads-address", help="host:port of the ADS server")
    parser.add_argument("--ads-delta", action="store_true", default=None, help="use incremental (Delta) xDS")
    parser.add_argument("--ads-tls-ca", help="CA bundle to verify the ADS server")
    parser.add_argument("--ads-tls-cert", help="client certificate naming this proxy")
    parser.add_argument("--ads-tls-key")
    parser.add_argument("--ads-identity-dir", help="node identity: the directory `meshplane identity` keeps the "
                        "client certificate and CA in (default: MESHPLANE_IDENTITY_DIR)")  # fmt: skip
    parser.add_argument("--ads-server-name", help="TLS name of the ADS server: SNI and the name its certificate "
                        "must carry (default: MESHPLANE_ADS_SERVER_NAME, else the ADS host)")  # fmt: skip
    parser.add_argument("--file-dir", help="file mode: the directory `meshplane agent` writes")
    parser.add_argument("--admin-port", type=int, help="default ENVOY_ADMIN_ACCESS_PORT or 9901")
    parser.add_argument("--bind-address", help="bind listeners and admin here (several sidecars on one host)")
    parser.add_argument("--sds-socket", help="Unix socket of the local SDS provider, e.g. SPIRE "
                        "(default: APPMESH_SDS_SOCKET_PATH)")  # fmt: skip
    parser.add_argument("--cluster", help="node.cluster (default APPMESH_RESOURCE_CLUSTER or the node id)")
    parser.add_argument("--availability-zone")
    parser.add_argument("--initial-fetch-timeout", type=float, help="seconds (default ENVOY_INITIAL_FETCH_TIMEOUT)")
    parser.add_argument("--xray", action="store_true", default=None, help="as ENABLE_ENVOY_XRAY_TRACING=1")
    parser.add_argument("--xray-port", type=int)
    parser.add_argument("--xray-sampling-rate", type=float)
    parser.add_argument("--dogstatsd", action="store_true", default=None, help="as ENABLE_ENVOY_DOG_STATSD=1")
    parser.add_argument("--statsd-address")
    parser.add_argument("--statsd-port", type=int)
    parser.add_argument("--stats-tags", action="store_true", default=None, help="as ENABLE_ENVOY_STATS_TAGS=1")
    parser.add_argument("--emit", choices=("bootstrap", "task-definition", "systemd", "iam-policy", "iam-role-tags"),
                        default="bootstrap", help="iam-policy: the S3 read policy of this file-mode proxy alone; "
                        "iam-role-tags: the role tags the stack's FileModeProxyPolicy reads")
    parser.add_argument("--bucket", help="--emit iam-policy: the snapshot bucket (default MESHPLANE_BUCKET)")
    parser.add_argument("--partition", help="--emit iam-policy: default the node ARN's, or aws")
    parser.add_argument("--image", default="meshplane/envoy:latest", help="sidecar image for --emit task-definition")
    parser.add_argument("--app-ports", default="8080", help="comma-separated AppPorts for --emit task-definition")
    parser.add_argument("--format", choices=("json", "yaml"), default="json")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from google.protobuf import json_format

    from meshplane.bootstrap import platforms
    from meshplane.bootstrap.envoy import build
    from meshplane.bootstrap.options import BootstrapOptions

    try:
        options = BootstrapOptions.from_env(os.environ, args.node_id).with_overrides(
            mode=args.mode, platform=args.platform, ads_address=args.ads_address, ads_delta=args.ads_delta,
            ads_tls_ca=args.ads_tls_ca, ads_tls_cert=args.ads_tls_cert, ads_tls_key=args.ads_tls_key,
            ads_identity_dir=args.ads_identity_dir, ads_server_name=args.ads_server_name,
            file_dir=args.file_dir, admin_port=args.admin_port, bind_address=args.bind_address, cluster=args.cluster,
            availability_zone=args.availability_zone, initial_fetch_timeout=args.initial_fetch_timeout,
            xray=args.xray, xray_port=args.xray_port, xray_sampling_rate=args.xray_sampling_rate,
            dogstatsd=args.dogstatsd, statsd_address=args.statsd_address, statsd_port=args.statsd_port,
            stats_tags=args.stats_tags, sds_socket=args.sds_socket,
        )  # fmt: skip
        if args.emit == "systemd":
            sys.stdout.write(platforms.systemd_unit(options))
            return 0
        if args.emit == "task-definition":
            ports = [int(p) for p in args.app_ports.split(",") if p]
            document: Any = platforms.task_definition(options, args.image, ports)
        elif args.emit in ("iam-policy", "iam-role-tags"):
            document = _iam(args.emit, options.node_id, args.bucket or os.environ.get("MESHPLANE_BUCKET"),
                            args.partition)
        else:
            document = json_format.MessageToDict(build(options), preserving_proto_field_name=True)
    except ValueError as exc:
        print(f"meshplane bootstrap: {exc}", file=sys.stderr)
        return 2
    if args.format == "yaml":
        import yaml

        plain = json.loads(json.dumps(document))  # Any fields come back as OrderedDicts, which YAML refuses
        sys.stdout.write(yaml.safe_dump(plain, sort_keys=False))
    else:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    return 0


def _iam(emit: str, node_id: str, bucket: str | None, partition: str | None) -> Any:
    from meshplane.bootstrap import iam_policy
    from meshplane.model.ids import ProxyId

    proxy = ProxyId.parse(node_id)
    if emit == "iam-role-tags":
        return iam_policy.role_tags(proxy)
    if not bucket:
        raise ValueError("--emit iam-policy needs --bucket or MESHPLANE_BUCKET")
    partition = partition or (node_id.split(":")[1] if node_id.startswith("arn:") else "aws")
    return iam_policy.node_policy(proxy, bucket, partition)
