"""`meshplane ads` flags for node identity, and the `NodeIdentity` they make.

Node identity is on when the server has a node CA (`--ca-cert/--ca-key` files or
`--ca-secret-arn`). Then the ADS port requires node certificates by default
(`--no-require-node-identity` serves TLS without client certificates, for a migration),
and the exchange listens on `--identity-port` (default: the ADS port + 1). The server
learns its own account and partition from `sts:GetCallerIdentity`, so a node id naming
another account is refused without any configuration.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from meshplane import envvars
from meshplane.cliargs import UsageError, env_option, environment
from meshplane.identity.defaults import CA_OBJECT_KEY, DECISION_TTL_S, MAX_CONNECTIONS, NODE_CERT_MINUTES


def add_arguments(ads: argparse.ArgumentParser, env: Mapping[str, str] | None = None) -> None:
    env = environment(env)
    group = ads.add_argument_group("node identity", "a node CA turns it on: TLS with node certificates, vended by "
                                   "the credential exchange to IAM principals that may be the node")  # fmt: skip
    flag = group.add_argument
    flag("--ca-cert", type=Path, help="node CA certificate file, made with --ca-key if neither exists (default: none)")
    flag("--ca-key", type=Path, help="node CA private key file (default: none)")
    env_option(group, "--ca-secret-arn", env=env, names=envvars.CA_SECRET_ARN,
               help="node CA in Secrets Manager; an empty secret gets one (default: none)")
    env_option(group, "--server-name", env=env, names=envvars.ADS_SERVER_NAME,
               help="the DNS name (or IP) proxies reach this server by; its certificate is issued for it (default: "
               "none; required with a node CA)")  # fmt: skip
    flag("--server-id", help="the audience proofs must be made for (default: the server name)")
    flag("--identity-port", type=int, help="port of the credential exchange (default: --port + 1)")
    flag(
        "--require-node-identity",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="streams need a node certificate naming their node.id (default: on with a node CA)",
    )
    flag("--node-cert-minutes", type=float, default=NODE_CERT_MINUTES, help="lifetime of issued node certificates")
    flag(
        "--authz-cache-seconds",
        type=float,
        default=DECISION_TTL_S,
        help="how long an IAM decision is reused: how long a revoked permission may still open streams",
    )
    flag(
        "--identity-connections",
        type=int,
        default=MAX_CONNECTIONS,
        help="open exchange connections at most; more are closed at once",
    )
    flag(
        "--sts-endpoint",
        action="append",
        default=[],
        help="a further STS URL proofs may name, repeatable (default: the regional STS endpoints, and the one "
        "boto3 resolves here: AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL, if set)",
    )
    flag("--ca-object-key", default=CA_OBJECT_KEY, help="the CA certificate's key in the snapshot bucket")
    flag("--no-ca-publish", action="store_true", help="do not publish the CA certificate to S3")


def node_identity(args: argparse.Namespace, region: str, bucket: str | None, session: Any) -> Any:
    """The NodeIdentity the flags ask for, or None without a node CA."""
    from meshplane.identity.account import MeshAccount
    from meshplane.identity.proof import sts_endpoint
    from meshplane.identity.server import build_node_identity
    from meshplane.identity.serverkeys import FileServerKeys
    from meshplane.identity.store import ca_from_files, ca_from_secret, publish_ca

    if bool(args.ca_cert) != bool(args.ca_key):
        raise UsageError("give --ca-cert and --ca-key together")
    if not (args.ca_cert or args.ca_secret_arn):
        if args.require_node_identity:
            raise UsageError("--require-node-identity needs a node CA (--ca-cert/--ca-key or --ca-secret-arn)")
        return None
    if not args.server_name:
        raise UsageError("a node CA needs --server-name, the name proxies reach this server by")
    account = MeshAccount.from_caller_arn(
        session.client("sts", region_name=region).get_caller_identity()["Arn"], region
    )
    if args.ca_secret_arn:
        ca = ca_from_secret(session.client("secretsmanager", region_name=region), args.ca_secret_arn)
    else:
        ca = ca_from_files(args.ca_cert, args.ca_key)
    if bucket and not args.no_ca_publish:
        publish_ca(session.client("s3", region_name=region), bucket, ca, args.ca_object_key)
    return build_node_identity(
        account=account, ca=ca, iam=session.client("iam", region_name=region), server_name=args.server_name,
        server_id=args.server_id,
        keys=FileServerKeys(Path(args.tls_cert), Path(args.tls_key)) if args.tls_cert and args.tls_key else None,
        sts_endpoints=[*args.sts_endpoint, sts_endpoint(session, region)],
        node_cert_lifetime=dt.timedelta(minutes=args.node_cert_minutes), decision_ttl=args.authz_cache_seconds,
        require_node_identity=args.require_node_identity is not False, identity_port=args.identity_port,
        max_connections=args.identity_connections,
        extra_client_ca=Path(args.tls_client_ca).read_bytes() if args.tls_client_ca else b"",
    )  # fmt: skip
