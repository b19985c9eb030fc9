"""`meshplane identity`: the credentials agent next to a proxy's Envoy (see `agent.py`)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from meshplane import envvars
from meshplane.bootstrap.options import NODE_ID_VARIABLES
from meshplane.cliargs import (
    CommandFailed,
    UsageError,
    add_command,
    configure_logging,
    document_env,
    env_option,
    environment,
    log_level_option,
)
from meshplane.clierrors import NO_CREDENTIALS
from meshplane.config import DEFAULT_REGION
from meshplane.identity.defaults import CA_OBJECT_KEY, DEFAULT_IDENTITY_DIR, RETRY_MAX_S


def register(subparsers: Any, env: Mapping[str, str] | None = None) -> None:
    env = environment(env)
    parser = add_command(subparsers, "identity", run,
                         help="keep this proxy's ADS client certificate fresh (node identity)")  # fmt: skip
    env_option(parser, "--node-id", env=env, names=NODE_ID_VARIABLES,
               help="mesh/<m>/virtualNode/<n>, .../virtualGateway/<n> or the ARN; required")
    env_option(parser, "--exchange-address", env=env, names=envvars.IDENTITY_ADDRESS,
               help="host:port of the ADS server's identity endpoint (default: the port after --ads-address's)")
    env_option(parser, "--ads-address", env=env, names=envvars.ADS_ADDRESS,
               help="host:port of the ADS server, when --exchange-address is not given")
    env_option(parser, "--server-name", env=env, names=envvars.ADS_SERVER_NAME,
               help="the name the server's certificate carries and SNI asks for (default: the exchange host)")
    parser.add_argument("--server-id", help="the server's id that proofs are made for (default: the server name)")
    env_option(parser, "--dir", env=env, names=envvars.IDENTITY_DIR, default=DEFAULT_IDENTITY_DIR, type=Path,
               help="identity directory Envoy's SDS watches")
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument("--ca-file", type=Path, help="the node CA certificate, PEM (default: read from --ca-s3-uri)")
    bucket = env.get(envvars.BUCKET)
    document_env(trust.add_argument("--ca-s3-uri", default=f"s3://{bucket}/{CA_OBJECT_KEY}" if bucket else None,
                                    help=f"where the server publishes the node CA certificate (default: "
                                    f"s3://<bucket>/{CA_OBJECT_KEY}, the bucket named by the variable)"),
                 envvars.BUCKET)  # fmt: skip
    env_option(parser, "--region", env=env, names=envvars.REGION, default=DEFAULT_REGION,
               help="the region of STS, whose signed GetCallerIdentity proves this proxy's IAM identity")
    parser.add_argument("--once", action="store_true", help="exit after the first certificate is installed")
    parser.add_argument("--retry-max-seconds", type=float, default=RETRY_MAX_S,
                        help="longest wait between failed attempts")
    log_level_option(parser)


def _exchange_address(args: argparse.Namespace) -> tuple[str, int]:
    from meshplane.bootstrap.options import split_address

    try:
        if args.exchange_address:
            return split_address(args.exchange_address)
        if not args.ads_address:
            raise UsageError(f"pass --exchange-address (or --ads-address), or set {envvars.IDENTITY_ADDRESS}")
        host, port = split_address(args.ads_address)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return host, port + 1


def _trusted_ca(args: argparse.Namespace, session: Any, region: str) -> Callable[[], bytes]:
    """Read the CA on every renewal (it may be rotated); keep the last good copy if the read fails."""
    if args.ca_file:
        return lambda: args.ca_file.read_bytes()
    parts = urlsplit(args.ca_s3_uri or "")
    if parts.scheme != "s3" or not parts.netloc or not parts.path.strip("/"):
        raise UsageError(f"pass --ca-file, --ca-s3-uri s3://bucket/key, or set {envvars.BUCKET}")
    s3 = session.client("s3", region_name=region)
    last: list[bytes] = []

    def read() -> bytes:
        try:
            last[:] = [s3.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"].read()]
        except Exception:
            if not last:
                raise
            logging.getLogger(__name__).warning("reading %s failed: using the CA read before", args.ca_s3_uri)
        return last[0]

    return read


def run(args: argparse.Namespace) -> int:
    import boto3

    from meshplane.identity.agent import AgentConfig, IdentityAgent
    from meshplane.identity.layout import IdentityLayout
    from meshplane.identity.proof import sts_endpoint

    configure_logging(args.log_level)
    if not args.node_id:
        raise UsageError(f"no node id: pass --node-id or set {NODE_ID_VARIABLES[0]}")
    session = boto3.Session(region_name=args.region)
    address = _exchange_address(args)
    server_name = args.server_name or address[0]
    config = AgentConfig(
        node_id=args.node_id, exchange_address=address, server_name=server_name,
        server_id=args.server_id or server_name, sts_url=sts_endpoint(session, args.region), region=args.region,
        retry_max_s=args.retry_max_seconds,
    )  # fmt: skip

    if session.get_credentials() is None:  # a setup mistake: no retry can fix it
        raise CommandFailed(f"{NO_CREDENTIALS}: the identity proof is signed with them")

    def credentials() -> Any:
        found = session.get_credentials()
        if found is None:
            raise RuntimeError(NO_CREDENTIALS)
        return found.get_frozen_credentials()

    agent = IdentityAgent(config, IdentityLayout(args.dir), credentials, _trusted_ca(args, session, args.region))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    installed = agent.run(stop.wait, once=args.once)
    return 0 if installed or not args.once else 1
