"""`meshplane ads` flags for the App Mesh Envoy image's port, and the `CompatPort` they make.

Off unless `--appmesh-compat-port` is given. The port then needs both allow-lists
(`--appmesh-compat-nodes`, `--appmesh-compat-cidr`): it cannot tell who a caller is, so
the operator says, explicitly, which nodes may be served to which networks.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from meshplane.cliargs import UsageError
from meshplane.delivery.defaults import COMPAT_MAX_SKEW_SECONDS, COMPAT_SIGNING_NAME

_PREFIX = "--appmesh-compat-"


def add_arguments(ads: argparse.ArgumentParser) -> None:
    group = ads.add_argument_group(
        "App Mesh Envoy image compatibility",
        "a further port for Envoys bootstrapped by the aws-appmesh-envoy image (APPMESH_XDS_ENDPOINT): TLS without "
        "client certificates, SigV4 metadata read but not verifiable; see envoy_bootstrap/README.md",
    )
    flag = group.add_argument
    flag(f"{_PREFIX}port", type=int, metavar="PORT", help="serve the App Mesh image on this port (default: off)")
    flag(f"{_PREFIX}nodes", action="append", default=[], metavar="PATTERN",
         help="node paths served on that port, shell-style, e.g. mesh/shop/virtualNode/* (repeatable; required "
              "with the port, no default)")  # fmt: skip
    flag(f"{_PREFIX}cidr", action="append", default=[], metavar="CIDR",
         help="source networks served on that port (repeatable; required with the port, no default; behind an NLB, "
              "enable client IP preservation on its target group or name the NLB's subnets)")  # fmt: skip
    flag(f"{_PREFIX}cert", metavar="FILE", help="certificate chain the image trusts (a public CA's, for your domain) "
         "(default: the server's own: --tls-cert or the node CA's, for an NLB TLS listener in front)")  # fmt: skip
    flag(f"{_PREFIX}key", metavar="FILE", help=f"private key of {_PREFIX}cert")
    flag(f"{_PREFIX}region", metavar="REGION",
         help="region the signatures must be scoped to (default: the server's region)")
    flag(f"{_PREFIX}signing-name", default=COMPAT_SIGNING_NAME, metavar="NAME",
         help="service the signatures must be scoped to: the image's APPMESH_SIGNING_NAME")
    flag(f"{_PREFIX}max-skew-seconds", type=float, default=COMPAT_MAX_SKEW_SECONDS, metavar="SECONDS",
         help="how far x-amz-date may be from this server's clock")
    flag(f"{_PREFIX}key-account", action=argparse.BooleanOptionalAction, default=None,
         help="ask sts:GetAccessKeyInfo whose access key signed each stream and refuse other accounts than the "
              "server's own (default: off)")  # fmt: skip


def compat_port(args: argparse.Namespace, region: str, session: Any) -> Any:
    """The CompatPort the flags ask for, or None when the port is off; SystemExit on contradictory flags."""
    from meshplane.delivery.server.ads import TlsFiles
    from meshplane.delivery.server.appmesh_compat import AppMeshCompat, CompatPolicy, CompatPort, KeyAccounts

    given = [name for name in ("nodes", "cidr", "cert", "key", "region") if getattr(args, f"appmesh_compat_{name}")]
    if args.appmesh_compat_port is None:
        if given or args.appmesh_compat_key_account:
            raise UsageError(f"{_PREFIX}* flags need {_PREFIX}port")
        return None
    if bool(args.appmesh_compat_cert) != bool(args.appmesh_compat_key):
        raise UsageError(f"give {_PREFIX}cert and {_PREFIX}key together")
    if not (args.appmesh_compat_cert or (args.tls_cert and args.tls_key) or args.ca_cert or args.ca_secret_arn):
        raise UsageError(f"{_PREFIX}port serves TLS: give {_PREFIX}cert/{_PREFIX}key, --tls-cert/--tls-key or a "
                         "node CA")  # fmt: skip
    try:
        policy = CompatPolicy.parse(
            args.appmesh_compat_nodes, args.appmesh_compat_cidr, args.appmesh_compat_region or region,
            signing_name=args.appmesh_compat_signing_name,
            max_skew=dt.timedelta(seconds=args.appmesh_compat_max_skew_seconds),
        )  # fmt: skip
    except ValueError as error:
        raise UsageError(str(error)) from None
    keys = None
    if args.appmesh_compat_key_account:
        sts = session.client("sts", region_name=region)
        keys = KeyAccounts(sts, [sts.get_caller_identity()["Account"]])
    tls = TlsFiles(args.appmesh_compat_cert, args.appmesh_compat_key) if args.appmesh_compat_cert else None
    return CompatPort(args.appmesh_compat_port, AppMeshCompat(policy, keys), tls)
