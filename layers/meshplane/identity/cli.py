"""`meshplane identity`: the credentials agent next to a proxy's Envoy (see `agent.py`)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from meshplane.identity.defaults import CA_OBJECT_KEY, DEFAULT_IDENTITY_DIR


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("identity", help="keep this proxy's ADS client certificate fresh (node identity)")
    parser.add_argument("--node-id", help="default: APPMESH_RESOURCE_ARN, APPMESH_RESOURCE_NAME or "
                        "APPMESH_VIRTUAL_NODE_NAME")  # fmt: skip
    parser.add_argument("--exchange-address", help="host:port of the ADS server's identity endpoint "
                        "(default: MESHPLANE_IDENTITY_ADDRESS, else the port after --ads-address's)")  # fmt: skip
    parser.add_argument("--ads-address", help="host:port of the ADS server (default: MESHPLANE_ADS_ADDRESS)")
    parser.add_argument("--server-name", help="the name the server's certificate carries and SNI asks for "
                        "(default: MESHPLANE_ADS_SERVER_NAME, else the exchange host)")  # fmt: skip
    parser.add_argument("--server-id", help="the server's id that proofs are made for (default: the server name)")
    parser.add_argument("--dir", type=Path, help=f"identity directory Envoy's SDS watches (default: "
                        f"MESHPLANE_IDENTITY_DIR or {DEFAULT_IDENTITY_DIR})")  # fmt: skip
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument("--ca-file", type=Path, help="the node CA certificate (PEM)")
    trust.add_argument(
        "--ca-s3-uri", help=f"where the server publishes it (default: s3://$MESHPLANE_BUCKET/{CA_OBJECT_KEY})"
    )
    parser.add_argument("--region", help="default: AWS_REGION / AWS_DEFAULT_REGION")
    parser.add_argument("--once", action="store_true", help="exit after the first certificate is installed")
    parser.add_argument("--retry-max-seconds", type=float, default=60.0, help="longest wait between failed attempts")
    parser.add_argument("--log-level", default="INFO")
    parser.set_defaults(func=run)


def _node_id(args: argparse.Namespace, env: os._Environ[str]) -> str:
    for value in (args.node_id, env.get("APPMESH_RESOURCE_ARN"), env.get("APPMESH_RESOURCE_NAME"),
                  env.get("APPMESH_VIRTUAL_NODE_NAME")):  # fmt: skip
        if value:
            return value
    raise SystemExit("meshplane identity: no node id: pass --node-id or set APPMESH_RESOURCE_ARN")


def _exchange_address(args: argparse.Namespace, env: os._Environ[str]) -> tuple[str, int]:
    from meshplane.bootstrap.options import split_address

    given = args.exchange_address or env.get("MESHPLANE_IDENTITY_ADDRESS")
    if given:
        return split_address(given)
    ads = args.ads_address or env.get("MESHPLANE_ADS_ADDRESS")
    if not ads:
        raise SystemExit("meshplane identity: pass --exchange-address (or --ads-address)")
    host, port = split_address(ads)
    return host, port + 1


def _trusted_ca(args: argparse.Namespace, session: Any, region: str, env: os._Environ[str]) -> Callable[[], bytes]:
    """Read the CA on every renewal (it may be rotated); keep the last good copy if the read fails."""
    if args.ca_file:
        return lambda: args.ca_file.read_bytes()
    uri = args.ca_s3_uri or (f"s3://{env['MESHPLANE_BUCKET']}/{CA_OBJECT_KEY}" if env.get("MESHPLANE_BUCKET") else "")
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc or not parts.path.strip("/"):
        raise SystemExit("meshplane identity: pass --ca-file, --ca-s3-uri s3://bucket/key, or set MESHPLANE_BUCKET")
    s3 = session.client("s3", region_name=region)
    last: list[bytes] = []

    def read() -> bytes:
        try:
            last[:] = [s3.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"].read()]
        except Exception:
            if not last:
                raise
            logging.getLogger(__name__).warning("reading %s failed: using the CA read before", uri)
        return last[0]

    return read


def run(args: argparse.Namespace) -> int:
    import boto3

    from meshplane.identity.agent import AgentConfig, IdentityAgent
    from meshplane.identity.layout import IdentityLayout
    from meshplane.identity.proof import sts_endpoint

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = os.environ
    region = args.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    session = boto3.Session(region_name=region)
    address = _exchange_address(args, env)
    server_name = args.server_name or env.get("MESHPLANE_ADS_SERVER_NAME") or address[0]
    config = AgentConfig(
        node_id=_node_id(args, env), exchange_address=address, server_name=server_name,
        server_id=args.server_id or server_name, sts_url=sts_endpoint(session, region), region=region,
        retry_max_s=args.retry_max_seconds,
    )  # fmt: skip
    directory = args.dir or Path(env.get("MESHPLANE_IDENTITY_DIR") or DEFAULT_IDENTITY_DIR)

    def credentials() -> Any:
        found = session.get_credentials()
        if found is None:
            raise RuntimeError("no AWS credentials found (task role, instance profile, environment)")
        return found.get_frozen_credentials()

    agent = IdentityAgent(config, IdentityLayout(directory), credentials, _trusted_ca(args, session, region, env))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    installed = agent.run(stop.wait, once=args.once)
    return 0 if installed or not args.once else 1
