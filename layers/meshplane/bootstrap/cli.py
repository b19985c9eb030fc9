"""`meshplane bootstrap`: print an Envoy bootstrap (or a platform snippet) for one proxy."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from meshplane.bootstrap.options import PLATFORMS

if TYPE_CHECKING:
    from meshplane.bootstrap.options import BootstrapOptions


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("bootstrap", help="print a ready Envoy bootstrap for a proxy")
    parser.add_argument("--node-id", help="mesh/<m>/virtualNode/<n>, .../virtualGateway/<n> or the ARN "
                        "(default: APPMESH_RESOURCE_ARN, APPMESH_VIRTUAL_NODE_NAME)")  # fmt: skip
    parser.add_argument("--mode", choices=("ads", "file"))
    parser.add_argument("--platform", choices=PLATFORMS)
    parser.add_argument("--ads-address", help="host:port of the ADS server, the stack's AdsEndpoint "
                        "(default: MESHPLANE_ADS_ADDRESS, else 127.0.0.1:18000)")  # fmt: skip
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
    parser.add_argument("--bucket", help="--emit iam-policy, task-definition: the snapshot bucket, the stack's "
                        "SnapshotBucketName (default MESHPLANE_BUCKET)")  # fmt: skip
    parser.add_argument("--partition", help="--emit iam-policy: default the node ARN's, or aws")
    parser.add_argument("--image", help="--emit task-definition: the sidecar image `make images` builds, e.g. "
                        "<account>.dkr.ecr.<region>.amazonaws.com/meshplane-envoy:<version> "
                        "(default MESHPLANE_ENVOY_IMAGE)")  # fmt: skip
    parser.add_argument("--task-role-arn", help="--emit task-definition: the task role, tagged as --emit "
                        "iam-role-tags prints, with the stack's AdsProxyPolicyArn (ADS) or "
                        "FileModeProxyPolicyArn")  # fmt: skip
    parser.add_argument("--execution-role-arn", help="--emit task-definition: pulls the image (Fargate needs one "
                        "for ECR) and writes logs")  # fmt: skip
    parser.add_argument("--identity-address", help="--emit task-definition: host:port of the credential exchange, "
                        "the stack's AdsIdentityEndpoint (default MESHPLANE_IDENTITY_ADDRESS, else the ADS "
                        "port + 1)")  # fmt: skip
    parser.add_argument("--app-ports", default="8080", help="comma-separated AppPorts for --emit task-definition")
    parser.add_argument("--format", choices=("json", "yaml"), default="json")
    parser.set_defaults(func=run)


def options_from(args: argparse.Namespace, environ: Mapping[str, str]) -> BootstrapOptions:
    """The App Mesh variables of `environ`, overridden by the flags given."""
    from meshplane.bootstrap.options import BootstrapOptions

    return BootstrapOptions.from_env(environ, args.node_id).with_overrides(
        mode=args.mode, platform=args.platform, ads_address=args.ads_address, ads_delta=args.ads_delta,
        ads_tls_ca=args.ads_tls_ca, ads_tls_cert=args.ads_tls_cert, ads_tls_key=args.ads_tls_key,
        ads_identity_dir=args.ads_identity_dir, ads_server_name=args.ads_server_name,
        file_dir=args.file_dir, admin_port=args.admin_port, bind_address=args.bind_address, cluster=args.cluster,
        availability_zone=args.availability_zone, initial_fetch_timeout=args.initial_fetch_timeout,
        xray=args.xray, xray_port=args.xray_port, xray_sampling_rate=args.xray_sampling_rate,
        dogstatsd=args.dogstatsd, statsd_address=args.statsd_address, statsd_port=args.statsd_port,
        stats_tags=args.stats_tags, sds_socket=args.sds_socket,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from google.protobuf import json_format

    from meshplane.bootstrap import platforms
    from meshplane.bootstrap.envoy import build

    try:
        options = options_from(args, os.environ)
        if args.emit == "systemd":
            sys.stdout.write(platforms.systemd_unit(options))
            return 0
        if args.emit == "task-definition":
            document: Any = _task_definition(args, options, os.environ)
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


def _task_definition(args: argparse.Namespace, options: BootstrapOptions, environ: Mapping[str, str]) -> Any:
    """The task definition; what it cannot default safely (image, role, ADS address, bucket) must be given."""
    from meshplane.bootstrap.task_definition import TaskSettings, task_definition

    image = args.image or environ.get("MESHPLANE_ENVOY_IMAGE")
    if not image:
        raise ValueError("--emit task-definition needs --image or MESHPLANE_ENVOY_IMAGE: the sidecar image `make "
                         "images` builds, pushed to your registry, e.g. "
                         "123456789012.dkr.ecr.us-east-1.amazonaws.com/meshplane-envoy:0.1.0")  # fmt: skip
    if not args.task_role_arn:
        raise ValueError("--emit task-definition needs --task-role-arn: a role tagged as --emit iam-role-tags "
                         "prints, with the stack's AdsProxyPolicyArn (ADS) or FileModeProxyPolicyArn (file) "
                         "attached")  # fmt: skip
    given = args.ads_address or environ.get("MESHPLANE_ADS_ADDRESS") or environ.get("APPMESH_XDS_ENDPOINT")
    if options.mode == "ads" and not given:
        raise ValueError("an ADS task definition needs --ads-address or MESHPLANE_ADS_ADDRESS: the stack's "
                         "AdsEndpoint output")  # fmt: skip
    try:
        ports = tuple(int(p) for p in args.app_ports.split(",") if p.strip())
    except ValueError:
        raise ValueError(f"--app-ports {args.app_ports!r}: comma-separated port numbers") from None
    settings = TaskSettings(
        image=image, task_role_arn=args.task_role_arn, app_ports=ports, execution_role_arn=args.execution_role_arn,
        bucket=args.bucket or environ.get("MESHPLANE_BUCKET") or None,
        identity_address=args.identity_address or environ.get("MESHPLANE_IDENTITY_ADDRESS") or None,
    )  # fmt: skip
    return task_definition(options, settings)


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
