"""`meshplane rollout create|list|describe|status|delete|start|pause|resume|abort|promote`: rollouts from a terminal.

Flags and JSON as `meshplane policy` takes them (`--mesh-name`, `--rollout-name`, `--spec` as JSON or
`file://path`, `--cli-input-json`), signed the same way (`policycli.call`).  `describe` prints the
API's JSON; `status` prints the rollout's phase and one line per decision of its history: when,
the step, the weights it left on the route, what was measured and why.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from meshplane import envvars
from meshplane.cliargs import HelpFormatter, UsageError, add_command, env_option
from meshplane.policycli import _json, call, cli_input

COMMANDS = ("start", "pause", "resume", "abort", "promote")
VERBS = ("create", "list", "describe", "status", "delete", *COMMANDS)


def register(subparsers: Any, env: Mapping[str, str]) -> None:
    about = "canary rollouts that step a route's weights and promote or roll back on measured traffic"
    parser = subparsers.add_parser("rollout", help=about, description=about, formatter_class=HelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in VERBS:
        sub = add_command(verbs, verb, run, help=f"{verb} a rollout" if verb != "list" else "list a mesh's rollouts")
        env_option(sub, "--api-url", env=env, names=envvars.API_URL,
                   help="the meshplane API: the stack's ApiUrl, or `meshplane local up`'s; required")
        sub.add_argument("--region", help="signing region (default: the region in an execute-api host name)")
        sub.add_argument("--profile", help="AWS profile whose credentials sign the call (default: the standard chain)")
        sub.add_argument("--mesh-name", required=verb != "create", help="the mesh")
        if verb != "list":
            sub.add_argument("--rollout-name", required=verb != "create", help="the rollout")
        if verb == "create":
            sub.add_argument("--spec", help="the rollout spec as JSON, or file://path")
            sub.add_argument("--cli-input-json", help="the whole request as JSON, or file://path")
            sub.add_argument("--client-token", help="makes a retried create idempotent")


def run(args: argparse.Namespace) -> int:
    if not args.api_url:
        raise UsageError(f"pass --api-url or set {envvars.API_URL}")
    if args.verb == "create":
        return _create(args)
    base = f"/meshplane/v1/meshes/{quote(args.mesh_name, safe='')}/rollouts"
    if args.verb == "list":
        print(json.dumps(_call(args, "GET", base, None, "ListRollouts"), indent=4))
        return 0
    one = f"{base}/{quote(args.rollout_name, safe='')}"
    if args.verb in COMMANDS:
        answer = _call(args, "POST", f"{one}/{args.verb}", None, f"{args.verb.capitalize()}Rollout")
    elif args.verb == "delete":
        answer = _call(args, "DELETE", one, None, "DeleteRollout")
    else:
        answer = _call(args, "GET", one, None, "DescribeRollout")
    print(status_text(answer["rollout"]) if args.verb == "status" else json.dumps(answer, indent=4))
    return 0


def _create(args: argparse.Namespace) -> int:
    request = cli_input(args)
    for member, value in (("meshName", args.mesh_name), ("rolloutName", args.rollout_name),
                          ("clientToken", args.client_token)):
        if value is not None:
            request[member] = value
    if args.spec is not None:
        request["spec"] = _json("--spec", args.spec)
    mesh = request.pop("meshName", None)
    if not mesh:
        raise UsageError("--mesh-name is required (or meshName in --cli-input-json)")
    path = f"/meshplane/v1/meshes/{quote(str(mesh), safe='')}/rollouts"
    print(json.dumps(_call(args, "PUT", path, json.dumps(request).encode(), "CreateRollout"), indent=4))
    return 0


def _call(args: argparse.Namespace, method: str, path: str, body: bytes | None, operation: str,
          query: Mapping[str, str] | None = None) -> Any:
    suffix = f"?{urlencode(query)}" if query else ""
    return call(args.api_url, method, path + suffix, body, operation, region=args.region, profile=args.profile)


def status_text(rollout: Mapping[str, Any]) -> str:
    """The phase and one line per decision, oldest first."""
    status = rollout["status"]
    lines = [f"{rollout['rolloutName']}: {status['phase']} at step {status['step']}, "
             f"weights {_weights(status.get('weights'))}, {status.get('failedChecks', 0)} failed check(s)"]
    for entry in status.get("history", []):
        at = datetime.fromtimestamp(entry["at"], tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        lines.append(f"  {at}  step {entry['step']:>2}  {_weights(entry.get('weights')):<22} "
                     f"{entry['decision']:<13} {_measured(entry.get('measured'))}{entry['reason']}")
    return "\n".join(lines)


def _weights(weights: Mapping[str, int] | None) -> str:
    return "-" if not weights else f"stable {weights['stable']} / canary {weights['canary']}"


def _measured(measured: Mapping[str, Any] | None) -> str:
    if not measured:
        return ""
    requests, errors = measured["requests"], measured["errors"]
    rate = f"{100 * errors / requests:.2f}%" if requests else "-"
    p99 = measured.get("p99Millis")
    latency = f", p99 {p99:.1f} ms" if p99 is not None else ""
    return f"[{requests} req, 5xx {rate}{latency}] "
