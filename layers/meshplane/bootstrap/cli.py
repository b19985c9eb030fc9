"""`meshplane bootstrap`: print an Envoy bootstrap (or a platform snippet) for one proxy."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from meshplane import envvars
from meshplane.bootstrap import options as o
from meshplane.cliargs import add_command, document_env, env_option

if TYPE_CHECKING:
    from meshplane.bootstrap.options import BootstrapOptions

EMITS = ("bootstrap", "task-definition", "systemd", "systemd-agent", "iam-policy", "iam-role-tags")


def register(subparsers: Any, env: Mapping[str, str]) -> None:
    parser = add_command(subparsers, "bootstrap", partial(run, environ=env),
                         help="print a ready Envoy bootstrap for a proxy",
                         description="Print a ready Envoy bootstrap for a proxy.  The App Mesh image's "
                         "variables apply (envoy_bootstrap/README.md lists each); a flag wins over its variable.")
    _proxy_arguments(parser.add_argument_group("the proxy"))
    _ads_arguments(parser.add_argument_group("how Envoy gets its configuration"))
    _telemetry_arguments(parser.add_argument_group("tracing and stats"))
    _emit_arguments(parser.add_argument_group("what to print"), env)


def _proxy_arguments(group: Any) -> None:
    flag = group.add_argument
    document_env(flag("--node-id", help="mesh/<m>/virtualNode/<n>, .../virtualGateway/<n> or the ARN (default: "
                      "the first variable set)"), *o.NODE_ID_VARIABLES)  # fmt: skip
    flag("--platform", choices=o.PLATFORMS, help="where the proxy runs (default: ec2)")
    document_env(flag("--admin-port", type=int, help=f"Envoy's admin port (default: {o.DEFAULT_ADMIN_PORT})"),
                 o.ADMIN_PORT_VAR)
    flag("--bind-address", help="bind listeners and admin here, for several sidecars on one host (default: none)")
    document_env(flag("--sds-socket", help="Unix socket of the local SDS provider, e.g. SPIRE (default: none)"),
                 o.SDS_SOCKET_VAR)
    document_env(flag("--cluster", help="node.cluster (default: the node id)"), *o.CLUSTER_VARIABLES)
    document_env(flag("--availability-zone", help="node.locality.zone, where zone-aware routing starts from "
                      "(default: the variables, else the ECS task metadata's AvailabilityZone, else none)"),
                 o.ZONE_VAR, o.AVAILABILITY_ZONE_VAR)  # fmt: skip


def _ads_arguments(group: Any) -> None:
    flag = group.add_argument
    flag("--mode", choices=("ads", "file"), help="ads: a stream from the ADS server; file: the files `meshplane "
         "agent` writes (default: ads)")  # fmt: skip
    document_env(flag("--ads-address", help=f"host:port of the ADS server, the stack's AdsEndpoint (default: "
                      f"{o.DEFAULT_ADS_ADDRESS})"), *o.ADS_ADDRESS_VARIABLES)  # fmt: skip
    flag("--ads-delta", action="store_true", default=None, help="use incremental (Delta) xDS (default: off, "
         "state of the world)")  # fmt: skip
    flag("--ads-tls-ca", help="CA bundle to verify the ADS server (default: none, plaintext without node identity)")
    flag("--ads-tls-cert", help="client certificate naming this proxy (default: none)")
    flag("--ads-tls-key", help="private key of --ads-tls-cert (default: none)")
    document_env(flag("--ads-identity-dir", help="node identity: the directory `meshplane identity` keeps the "
                      "client certificate and CA in (default: none)"), envvars.IDENTITY_DIR)  # fmt: skip
    document_env(flag("--ads-server-name", help="TLS name of the ADS server: SNI and the name its certificate "
                      "must carry (default: the ADS host)"), envvars.ADS_SERVER_NAME)  # fmt: skip
    document_env(flag("--initial-fetch-timeout", type=float, help="seconds Envoy waits for its first "
                      "configuration (default: Envoy's own)"), o.INITIAL_FETCH_TIMEOUT_VAR)  # fmt: skip
    flag("--file-dir", help=f"file mode: the directory `meshplane agent` writes (default: {o.DEFAULT_FILE_DIR})")


def _telemetry_arguments(group: Any) -> None:
    flag = group.add_argument
    document_env(flag("--xray", action="store_true", default=None, help="trace to the X-Ray daemon (default: "
                      "off)"), o.XRAY_VAR)  # fmt: skip
    document_env(flag("--xray-port", type=int, help=f"the X-Ray daemon's UDP port (default: {o.XRAY_DEFAULT_PORT})"),
                 o.XRAY_PORT_VAR)
    document_env(flag("--xray-sampling-rate", type=float, help="fraction of requests traced (default: "
                      f"{o.XRAY_DEFAULT_RATE})"), o.XRAY_SAMPLING_RATE_VAR)  # fmt: skip
    document_env(flag("--dogstatsd", action="store_true", default=None, help="send stats to a DogStatsD sink "
                      "(default: off)"), o.DOGSTATSD_VAR)  # fmt: skip
    document_env(flag("--statsd-address", help=f"the sink's IP address (default: {o.STATSD_DEFAULT_ADDRESS})"),
                 o.STATSD_ADDRESS_VAR)
    document_env(flag("--statsd-port", type=int, help=f"the sink's UDP port (default: {o.STATSD_DEFAULT_PORT})"),
                 o.STATSD_PORT_VAR)
    document_env(flag("--stats-tags", action="store_true", default=None, help="tag stats with the mesh and "
                      "resource, as App Mesh did (default: off)"), o.STATS_TAGS_VAR)  # fmt: skip


def _emit_arguments(group: Any, env: Mapping[str, str]) -> None:
    flag = group.add_argument
    flag("--emit", choices=EMITS, default="bootstrap", help="systemd: Envoy's unit on a host; systemd-agent: the "
         "file agent's unit beside it (file mode); iam-policy: the S3 read policy of this file-mode proxy alone; "
         "iam-role-tags: the role tags the stack's FileModeProxyPolicy reads")  # fmt: skip
    env_option(group, "--bucket", env=env, names=envvars.BUCKET, help="--emit iam-policy, task-definition, "
               "systemd-agent: the snapshot bucket, the stack's SnapshotBucketName")  # fmt: skip
    flag("--partition", help="--emit iam-policy: the AWS partition (default: the node ARN's, else aws)")
    flag("--table-arn", help="--emit iam-policy: the state table's ARN, to let the proxy record its own status "
         "there too (default: read access only)")  # fmt: skip
    env_option(group, "--table", env=env, names=envvars.TABLE, help="--emit task-definition (file mode), "
               "systemd-agent: the state table, the stack's StateTableName, where the agent records its Envoy's "
               "status")  # fmt: skip
    env_option(group, "--image", env=env, names=envvars.ENVOY_IMAGE, help="--emit task-definition: the sidecar "
               "image `make images` builds, e.g. <account>.dkr.ecr.<region>.amazonaws.com/meshplane-envoy:<version>")
    flag("--task-role-arn", help="--emit task-definition: the task role, tagged as --emit iam-role-tags prints, with "
         "the stack's AdsProxyPolicyArn (ADS) or FileModeProxyPolicyArn")  # fmt: skip
    flag("--execution-role-arn", help="--emit task-definition: pulls the image (Fargate needs one for ECR) and "
         "writes logs")  # fmt: skip
    env_option(group, "--identity-address", env=env, names=envvars.IDENTITY_ADDRESS, help="--emit task-definition: "
               "host:port of the credential exchange, the stack's AdsIdentityEndpoint (default: the ADS port + 1)")
    flag("--app-ports", default="8080", help="--emit task-definition: the comma-separated AppPorts")
    flag("--format", choices=("json", "yaml"), default="json", help="output format")


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


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Print what `--emit` asks for; a setting that cannot work is one line on stderr and exit status 2."""
    from google.protobuf import json_format

    from meshplane.bootstrap import platforms, zone
    from meshplane.bootstrap.envoy import build

    try:
        options = options_from(args, environ)
        if options.availability_zone is None and args.emit == "bootstrap":
            options = options.with_overrides(availability_zone=zone.ecs_zone(environ))
        if args.emit == "systemd":
            sys.stdout.write(platforms.systemd_unit(options))
            return 0
        if args.emit == "systemd-agent":
            sys.stdout.write(platforms.agent_systemd_unit(options, args.bucket or "", args.table or ""))
            return 0
        if args.emit == "task-definition":
            document: Any = _task_definition(args, options, environ)
        elif args.emit in ("iam-policy", "iam-role-tags"):
            document = _iam(args.emit, options.node_id, args.bucket, args.partition, args.table_arn)
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

    image = args.image
    if not image:
        raise ValueError(f"--emit task-definition needs --image or {envvars.ENVOY_IMAGE}: the sidecar image `make "
                         "images` builds, pushed to your registry, e.g. "
                         "123456789012.dkr.ecr.us-east-1.amazonaws.com/meshplane-envoy:0.1.0")  # fmt: skip
    if not args.task_role_arn:
        raise ValueError("--emit task-definition needs --task-role-arn: a role tagged as --emit iam-role-tags "
                         "prints, with the stack's AdsProxyPolicyArn (ADS) or FileModeProxyPolicyArn (file) "
                         "attached")  # fmt: skip
    given = args.ads_address or any(environ.get(name) for name in o.ADS_ADDRESS_VARIABLES)
    if options.mode == "ads" and not given:
        raise ValueError(f"an ADS task definition needs --ads-address or {envvars.ADS_ADDRESS}: the stack's "
                         "AdsEndpoint output")  # fmt: skip
    try:
        ports = tuple(int(p) for p in args.app_ports.split(",") if p.strip())
    except ValueError:
        raise ValueError(f"--app-ports {args.app_ports!r}: comma-separated port numbers") from None
    settings = TaskSettings(
        image=image, task_role_arn=args.task_role_arn, app_ports=ports, execution_role_arn=args.execution_role_arn,
        bucket=args.bucket or None, identity_address=args.identity_address or None, table=args.table or None,
    )  # fmt: skip
    return task_definition(options, settings)


def _iam(emit: str, node_id: str, bucket: str | None, partition: str | None, table_arn: str | None) -> Any:
    from meshplane.bootstrap import iam_policy
    from meshplane.model.ids import ProxyId

    proxy = ProxyId.parse(node_id)
    if emit == "iam-role-tags":
        return iam_policy.role_tags(proxy)
    if not bucket:
        raise ValueError(f"--emit iam-policy needs --bucket or {envvars.BUCKET}")
    partition = partition or (node_id.split(":")[1] if node_id.startswith("arn:") else "aws")
    return iam_policy.node_policy(proxy, bucket, partition, table_arn)
