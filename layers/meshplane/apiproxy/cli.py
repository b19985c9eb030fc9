"""`meshplane api-proxy` command line: serve the App Mesh API on loopback, forwarding to the deployed API."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Mapping
from typing import Any

from meshplane import envvars
from meshplane.apiproxy.defaults import CONNECT_TIMEOUT_SECONDS, DEFAULT_HOST, DEFAULT_PORT, READ_TIMEOUT_SECONDS
from meshplane.cliargs import UsageError, add_command, configure_logging, env_option, log_level_option


def register(subparsers: Any, env: Mapping[str, str]) -> None:
    parser = add_command(subparsers, "api-proxy", run,
                         help="a local App Mesh endpoint for any client (Terraform, CDK, AWS CLI, SDKs): re-signs "
                         "each call for the deployed API")  # fmt: skip
    env_option(parser, "--target", env=env, names=envvars.API_URL,
               help="the deployed API, the stack's ApiUrl: https://<api-id>.execute-api.<region>.amazonaws.com/v1; "
               "required")  # fmt: skip
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to listen on; loopback only unless --allow-remote")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on, 0 picks a free one")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host; every request must then be signed for appmesh with "
                        "this proxy's own credentials")  # fmt: skip
    parser.add_argument("--region", help="signing region (default: the region in the --target host name)")
    add_relay_options(parser, calls="forwarded calls", upstream="the target", client="a client")
    log_level_option(parser)


def add_relay_options(parser: argparse.ArgumentParser, *, calls: str, upstream: str, client: str) -> None:
    """The signing profile and timeouts of a loopback relay to the API (`api-proxy`, `console`)."""
    parser.add_argument("--profile", help=f"AWS profile whose credentials sign the {calls} "
                        "(default: the standard credential chain: AWS_PROFILE, environment, files, role)")  # fmt: skip
    parser.add_argument("--connect-timeout", type=float, default=CONNECT_TIMEOUT_SECONDS,
                        help=f"seconds to connect to {upstream}")
    parser.add_argument("--read-timeout", type=float, default=READ_TIMEOUT_SECONDS,
                        help=f"seconds to wait for each read from {upstream} and from {client}")


def run(args: argparse.Namespace) -> int:
    import boto3

    from meshplane.api.http import make_server
    from meshplane.apiproxy import forward
    from meshplane.apiproxy.access import OwnKeyAuthenticator, is_loopback
    from meshplane.apiproxy.target import TargetError, parse_target

    configure_logging(args.log_level)
    if not args.target:
        raise UsageError(f"pass --target (the stack's ApiUrl) or set {envvars.API_URL}")
    if not args.allow_remote and not is_loopback(args.host):
        raise UsageError(f"--host {args.host} is not a loopback address; the proxy signs with your credentials "
                         "for whoever reaches it: pass --allow-remote to bind it anyway")
    try:
        target = parse_target(args.target, args.region)
    except TargetError as exc:
        raise UsageError(str(exc)) from None
    credentials = boto3.Session(profile_name=args.profile).get_credentials()
    if credentials is None:
        raise SystemExit("meshplane api-proxy: no AWS credentials in the standard chain (environment, "
                         "~/.aws files, SSO, container or instance role): the forwarded calls must be signed")
    forwarder = forward.Forwarder(target, credentials, connect_timeout=args.connect_timeout,
                                  read_timeout=args.read_timeout)
    authenticate = OwnKeyAuthenticator(credentials) if args.allow_remote else None
    try:
        server = make_server(forwarder, args.host, args.port,
                             read_timeout=args.read_timeout, authenticate=authenticate)
    except OSError as exc:  # in use, not an address of this host, or IPv6 (the server listens on IPv4)
        raise SystemExit(f"meshplane api-proxy: cannot listen on {args.host}:{args.port}: {exc}") from None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = server.server_address[1]  # the one picked when --port is 0
    print(f"meshplane api-proxy: http://{args.host}:{port} -> {target.origin}{target.prefix} "
          f"(execute-api, {target.region})", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0
