"""`meshplane local up` command line."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from meshplane import envvars
from meshplane.cliargs import UsageError, add_command, env_option, environment
from meshplane.config import DEFAULT_REGION
from meshplane.delivery.defaults import ADS_PORT

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"  # the repository's template


def _parameter(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected Key=Value, got {text!r}")
    return key, value


def register(subparsers: Any, env: Mapping[str, str] | None = None) -> None:
    env = environment(env)
    local = subparsers.add_parser("local", help="run meshplane on this machine against an AWS emulator",
                                  description="Run meshplane on this machine against an AWS emulator.")  # fmt: skip
    commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    up = add_command(commands, "up", _up, help="emulator + deployed template + local Lambda runtime, in the foreground")
    _stack_arguments(up, env)
    _runtime_arguments(up, env)


def _stack_arguments(up: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    up.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="the SAM template to deploy")
    up.add_argument("--stack-name", default="meshplane", help="the stack's name (AWS::StackName)")
    up.add_argument("--parameter", type=_parameter, action="append", default=[], metavar="KEY=VALUE",
                    help="template parameter override, repeatable (default: the template's own defaults)")
    env_option(up, "--region", env=env, names=envvars.REGION, default=DEFAULT_REGION, help="the stack's region")
    up.add_argument("--host", default="127.0.0.1", help="address the emulator, the API and the ADS listen on")
    env_option(up, "--endpoint-url", env=env, names=envvars.ENDPOINT_URL,
               help="an AWS emulator already running (default: none: moto is started on --emulator-port)")
    up.add_argument("--emulator-port", type=int, default=4566, help="moto's port, without --endpoint-url")
    up.add_argument("--api-port", type=int, default=9080, help="the App Mesh API's port")
    up.add_argument("--ads-port", type=int, default=ADS_PORT, help="the ADS server's port")
    up.add_argument("--no-ads", action="store_true", help="do not supervise a `meshplane ads` child")
    up.add_argument("--state-dir", type=Path, default=Path(".meshplane/local"),
                    help="where the stack's outputs, logs and local certificates are kept")


def _runtime_arguments(up: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    up.add_argument("--schedule-interval", type=float,
                    help="seconds between scheduled invocations (default: the template's rate)")
    up.add_argument("--stream-poll-interval", type=float, default=0.05,
                    help="seconds between reads of the DynamoDB stream while it is busy (idle, the "
                         "reads slow to Lambda's four a second; a function's write wakes them)")
    up.add_argument("--retry-delay", type=int, default=1, help="seconds before a failed SQS message is retried")
    up.add_argument("--api-concurrency", type=int, default=4, help="ApiFunction workers at most")
    up.add_argument("--api-authz", action="store_true",
                    help="authorize API calls with the caller's IAM policies, as App Mesh did "
                         f"({envvars.API_AUTHZ}=iam): requests must be SigV4-signed with keys of the emulator's "
                         "IAM users or role sessions")  # fmt: skip
    up.add_argument("--secure", action="store_true",
                    help="the ADS speaks TLS and requires node certificates, vended by its credential exchange "
                         "for IAM principals the emulator's policies let be the node (meshplane identity)")
    up.add_argument("--identity-port", type=int, help="with --secure: the credential exchange (default: ADS port + 1)")
    env_option(up, "--profile-dir", env=env, names=envvars.LOCAL_PROFILE_DIR, type=Path,
               help="cProfile every function invocation into this directory (default: no profiling)")


def _up(args: argparse.Namespace) -> int:
    from meshplane.local.up import Options, run

    if args.endpoint_url and not urlsplit(args.endpoint_url).scheme:
        raise UsageError(f"{envvars.ENDPOINT_URL} (--endpoint-url) is not a URL: {args.endpoint_url!r}")
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
            endpoint_url=args.endpoint_url,
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
