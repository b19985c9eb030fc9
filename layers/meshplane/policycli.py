"""`meshplane policy create|update|describe|list|delete`: the Policy extension API from a terminal.

The flags and JSON follow the `aws appmesh` commands users know: `--mesh-name`, `--policy-name`,
`--spec` (JSON, or `file://path`), `--tags`, `--client-token`, `--limit`, `--next-token`, and
`--cli-input-json` (a request document, or `file://path`; flags given on the command line win).
The answer is printed as the API's JSON.  Requests are signed with SigV4 for `execute-api` in the
API's region, as API Gateway's IAM authorization expects (botocore signs; nothing here reimplements
it); with no credentials in the standard chain they go unsigned, for a loopback `meshplane local up`.
An error answer is one line, `An error occurred (ConflictException) when calling the CreatePolicy
operation: ...`, and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from meshplane import envvars
from meshplane.cliargs import CommandFailed, HelpFormatter, UsageError, add_command, env_option

SIGNING_NAME = "execute-api"
TIMEOUT_SECONDS = 30.0
# verb -> (operation, method, whether the path names the policy, the body members it sends)
VERBS: dict[str, tuple[str, str, bool, tuple[str, ...]]] = {
    "create": ("CreatePolicy", "PUT", False, ("policyName", "spec", "tags", "clientToken")),
    "update": ("UpdatePolicy", "PUT", True, ("spec", "clientToken")),
    "describe": ("DescribePolicy", "GET", True, ()),
    "list": ("ListPolicies", "GET", False, ()),
    "delete": ("DeletePolicy", "DELETE", True, ()),
}
_FLAGS = {"meshName": "mesh_name", "policyName": "policy_name", "spec": "spec", "tags": "tags",
          "clientToken": "client_token", "limit": "limit", "nextToken": "next_token"}


def register(subparsers: Any, env: Mapping[str, str]) -> None:
    about = "meshplane Policy resources (authorization, JWT, headers, mirroring, rate limits, ...)"
    parser = subparsers.add_parser("policy", help=about, description=about, formatter_class=HelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, (operation, _, _, body) in VERBS.items():
        sub = add_command(verbs, verb, run, help=f"{operation} (`aws appmesh`-style flags and JSON)")
        env_option(sub, "--api-url", env=env, names=envvars.API_URL,
                   help="the meshplane API: the stack's ApiUrl, or `meshplane local up`'s; required")
        sub.add_argument("--region", help="signing region (default: the region in an execute-api host name, "
                         "else AWS_REGION / the profile's)")  # fmt: skip
        sub.add_argument("--profile", help="AWS profile whose credentials sign the call (default: the standard chain)")
        sub.add_argument("--cli-input-json", help="the request as JSON, or file://path")
        sub.add_argument("--mesh-name", help="the mesh (or meshName in --cli-input-json)")
        if verb != "list":
            sub.add_argument("--policy-name", help="the policy (or policyName in --cli-input-json)")
        if "spec" in body:
            sub.add_argument("--spec", help="the policy spec as JSON, or file://path")
            sub.add_argument("--client-token", help="makes a retried request idempotent")
        if "tags" in body:
            sub.add_argument("--tags", help='JSON list of {"key": ..., "value": ...}, or file://path')
        if verb == "list":
            sub.add_argument("--limit", type=int, help="the most policies in one answer (the API's default: 100)")
            sub.add_argument("--next-token", help="where the previous answer's page ended")


def run(args: argparse.Namespace) -> int:
    operation, method, names_policy, body_members = VERBS[args.verb]
    request = _request(args)
    mesh = request.pop("meshName", None)
    if not mesh:
        raise UsageError("--mesh-name is required (or meshName in --cli-input-json)")
    path = f"/meshplane/v1/meshes/{quote(str(mesh), safe='')}/policies"
    if names_policy:
        name = request.pop("policyName", None)
        if not name:
            raise UsageError("--policy-name is required (or policyName in --cli-input-json)")
        path += f"/{quote(str(name), safe='')}"
    query = {k: str(request.pop(k)) for k in ("limit", "nextToken") if request.get(k) is not None}
    unknown = sorted(set(request) - set(body_members))
    if unknown:
        raise UsageError(f"{operation} takes no {', '.join(unknown)}")
    if not args.api_url:
        raise UsageError(f"pass --api-url or set {envvars.API_URL}")
    body = json.dumps(request).encode() if body_members else None
    answer = call(args.api_url, method, path + (f"?{urlencode(query)}" if query else ""), body, operation,
                  region=args.region, profile=args.profile)
    print(json.dumps(answer, indent=4, sort_keys=False))
    return 0


def _request(args: argparse.Namespace) -> dict[str, Any]:
    """`--cli-input-json`, overridden by each flag given."""
    request = cli_input(args)
    for member, attr in _FLAGS.items():
        value = getattr(args, attr, None)
        if value is None:
            continue
        request[member] = _json(f"--{attr.replace('_', '-')}", value) if member in ("spec", "tags") else value
    return request


def cli_input(args: argparse.Namespace) -> dict[str, Any]:
    """The request `--cli-input-json` gives (an object, inline or `file://`), empty without it."""
    if not args.cli_input_json:
        return {}
    document = _json("--cli-input-json", args.cli_input_json)
    if not isinstance(document, dict):
        raise UsageError("--cli-input-json: must be a JSON object")
    return document


def _json(flag: str, value: str) -> Any:
    text = value
    if value.startswith("file://"):
        try:
            text = Path(value.removeprefix("file://")).expanduser().read_text()
        except OSError as exc:
            raise UsageError(f"{flag}: cannot read {value}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{flag}: not JSON ({exc})") from None


def call(api_url: str, method: str, path: str, body: bytes | None, operation: str, *,
         region: str | None = None, profile: str | None = None) -> Any:
    """One API call, signed when credentials are found; the decoded answer, or CommandFailed with the API's error."""
    url = api_url.rstrip("/") + path
    headers = {"Content-Type": "application/json"}
    signed = _signed(method, url, body, headers, region, profile)
    request = urllib.request.Request(url, data=body, method=method, headers=signed)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        kind = error.headers.get("x-amzn-ErrorType", f"HTTP {error.code}").split(":")[0]
        try:
            message = json.loads(error.read() or b"{}").get("message", "")
        except (ValueError, AttributeError):
            message = ""
        raise CommandFailed(f"An error occurred ({kind}) when calling the {operation} operation: {message}") from None
    except urllib.error.URLError as error:
        raise CommandFailed(f"cannot reach {api_url}: {error.reason}") from None


def _signed(method: str, url: str, body: bytes | None, headers: dict[str, str], region: str | None,
            profile: str | None) -> dict[str, str]:
    """`headers` with a SigV4 signature for `execute-api` by botocore, or as they are without credentials."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    from meshplane.apiproxy.target import region_of_host

    session = boto3.Session(profile_name=profile)
    credentials = session.get_credentials()
    if credentials is None:
        return headers
    host = urlsplit(url).hostname or ""
    found = region or region_of_host(host) or session.region_name
    if not found:
        raise UsageError("pass --region: the API's host names no region and no default region is configured")
    request = AWSRequest(method=method, url=url, data=body or b"", headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), SIGNING_NAME, found).add_auth(request)
    return dict(request.headers.items())
