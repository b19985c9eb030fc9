"""`meshplane console` command line: the web console on loopback, relaying to the App Mesh API."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshplane import envvars
from meshplane.apiproxy.cli import add_relay_options
from meshplane.cliargs import CommandFailed, UsageError, add_command, configure_logging, env_option, log_level_option
from meshplane.console.defaults import DEFAULT_HOST, DEFAULT_PORT, LOCAL_STATE_DIR

if TYPE_CHECKING:
    from meshplane.apiproxy.target import Target


def register(subparsers: Any, env: Mapping[str, str]) -> None:
    parser = add_command(subparsers, "console", run,
                         help="a web console on loopback: the mesh's topology, its resources and route weights, "
                         "through the App Mesh API signed with your credentials")  # fmt: skip
    env_option(parser, "--api-url", env=env, names=envvars.API_URL,
               help="the App Mesh API: the stack's ApiUrl (https://<api-id>.execute-api.<region>.amazonaws.com/v1) "
               "or a local one (default: the API of the meshplane local up running with --local-state-dir)")
    parser.add_argument("--local-state-dir", type=Path, default=Path(LOCAL_STATE_DIR),
                        help="the state directory of meshplane local up (its --state-dir), read when --api-url is not "
                        "given")  # fmt: skip
    parser.add_argument("--host", default=DEFAULT_HOST, help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on, 0 picks a free one")
    parser.add_argument("--region", help="signing region (default: the region in an execute-api --api-url's host "
                        "name, else meshplane local up's, else us-east-1 for a loopback API; required for another "
                        "host)")  # fmt: skip
    add_relay_options(parser, calls="relayed calls", upstream="the API", client="the browser")
    log_level_option(parser)


def run(args: argparse.Namespace) -> int:
    from meshplane.apiproxy.access import is_loopback
    from meshplane.console.server import credentials_for, open_console

    configure_logging(args.log_level)
    if not is_loopback(args.host):
        raise UsageError(f"--host {args.host} is not a loopback address; the console relays with your credentials "
                         "and serves only this machine")  # fmt: skip
    target = resolve_target(args.api_url, args.region, args.local_state_dir)
    credentials = credentials_for(target, args.profile)
    try:
        console = open_console(target, credentials, host=args.host, port=args.port,
                               connect_timeout=args.connect_timeout, read_timeout=args.read_timeout)
    except OSError as exc:  # in use, or not an address of this host
        raise CommandFailed(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    how = f"signed for execute-api in {target.region}" if console.signed else "unsigned: no AWS credentials"
    print(f"meshplane console: {console.url} -> {target.origin}{target.prefix} ({how})", flush=True)
    try:
        console.server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        console.server.server_close()
    return 0


def resolve_target(api_url: str | None, region: str | None, local_state_dir: Path) -> Target:
    """The API to relay to, from `--api-url` or a running local up; a loopback API needs no region."""
    from urllib.parse import urlsplit

    from meshplane.apiproxy.access import is_loopback
    from meshplane.apiproxy.target import TargetError, parse_target
    from meshplane.config import DEFAULT_REGION
    from meshplane.console.locate import running_local_api

    if not api_url:
        local = running_local_api(local_state_dir)
        if local is None:
            raise UsageError(f"pass --api-url (the stack's ApiUrl) or set {envvars.API_URL}; no meshplane local up "
                             f"is running with --state-dir {local_state_dir}")  # fmt: skip
        api_url, region = local.url, region or local.region
    if region is None and is_loopback(urlsplit(api_url).hostname or ""):
        region = DEFAULT_REGION  # meshplane local up checks no signature unless --api-authz, which its state names
    try:
        return parse_target(api_url, region)
    except TargetError as exc:
        raise UsageError(str(exc).replace("--target", "--api-url")) from None
