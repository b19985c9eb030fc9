"""`meshplane local up` command line."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"  # the repository's template


def _parameter(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected Key=Value, got {text!r}")
    return key, value


def register(subparsers: Any) -> None:
    local = subparsers.add_parser("local", help="run meshplane on this machine against an AWS emulator")
    commands = local.add_subparsers(dest="local_command", required=True)
    up = commands.add_parser("up", help="emulator + deployed template + local Lambda runtime, in the foreground")
    up.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    up.add_argument("--stack-name", default="meshplane")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--emulator-port", type=int, default=4566, help="moto's port (ignored with AWS_ENDPOINT_URL)")
    up.add_argument("--api-port", type=int, default=9080)
    up.add_argument("--ads-port", type=int, default=18000)
    up.add_argument("--no-ads", action="store_true", help="do not supervise a `meshplane ads` child")
    up.add_argument("--state-dir", type=Path, default=Path(".meshplane/local"))
    up.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    up.add_argument("--parameter", type=_parameter, action="append", default=[], metavar="KEY=VALUE",
                    help="template parameter override (repeatable)")
    up.add_argument("--schedule-interval", type=float, default=None,
                    help="seconds between scheduled invocations (default: the template's rate)")
    up.add_argument("--stream-poll-interval", type=float, default=0.05)
    up.add_argument("--retry-delay", type=int, default=1, help="seconds before a failed SQS message is retried")
    up.add_argument("--api-concurrency", type=int, default=4, help="ApiFunction workers at most")
    up.add_argument("--api-authz", action="store_true",
                    help="authorize API calls with the caller's IAM policies, as App Mesh did "
                         "(MESHPLANE_API_AUTHZ=iam): requests must be SigV4-signed with keys of the emulator's IAM "
                         "users or role sessions")
    up.add_argument("--secure", action="store_true",
                    help="the ADS speaks TLS and requires node certificates, vended by its credential exchange "
                         "for IAM principals the emulator's policies let be the node (meshplane identity)")
    up.add_argument("--identity-port", type=int, help="with --secure: the credential exchange (default: ADS port + 1)")
    up.add_argument("--profile-dir", type=Path, default=os.environ.get("MESHPLANE_LOCAL_PROFILE_DIR") or None,
                    help="cProfile every function invocation into this directory (env MESHPLANE_LOCAL_PROFILE_DIR)")
    up.set_defaults(func=_up)


def _up(args: argparse.Namespace) -> int:
    from meshplane.local.up import Options, run

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    if endpoint and not urlsplit(endpoint).scheme:
        raise SystemExit(f"AWS_ENDPOINT_URL is not a URL: {endpoint!r}")
    return run(
        Options(
            template=args.template.resolve(),
            stack_name=args.stack_name,
            host=args.host,
            emulator_port=args.emulator_port,
            api_port=args.api_port,
            ads_port=args.ads_port,
            state_dir=args.state_dir.resolve(),
            region=args.region,
            endpoint_url=endpoint,
            parameters=dict(args.parameter),
            schedule_interval=args.schedule_interval,
            stream_poll_interval=args.stream_poll_interval,
            retry_delay=args.retry_delay,
            api_concurrency=args.api_concurrency,
            ads=not args.no_ads,
            api_authz=args.api_authz,
            secure=args.secure,
            identity_port=args.identity_port,
            profile_dir=args.profile_dir.resolve() if args.profile_dir else None,
        )
    )
