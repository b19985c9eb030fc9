"""`meshplane import`: App Mesh definitions in, the same mesh in meshplane out.

    meshplane import colorapp.yaml --parameter MeshName=color --endpoint-url "$API_URL" --dry-run
    meshplane import k8s/ --endpoint-url "$API_URL"
    meshplane import --from-account --source-region eu-west-1 --save export.json --endpoint-url "$API_URL"

Sources are read and validated in full before the target is touched; the plan is a diff
against what the target's API describes; applying it creates and updates in dependency
order and stops at the first refusal with a report.  Exit status: 0 done (or nothing to
do), 1 the API refused a step, 2 a source is invalid.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from meshplane import envvars
from meshplane.cliargs import HelpFormatter, add_command, env_option
from meshplane.config import DEFAULT_ACCOUNT, DEFAULT_REGION
from meshplane.migrate.desired import Desired

EXIT_REFUSED, EXIT_INVALID = 1, 2
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class _Formatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """The module docstring's examples as written, each option's default and variables as everywhere."""


def register(subparsers: Any, env: Mapping[str, str]) -> None:
    parser = add_command(subparsers, "import", run,
                         help="import App Mesh definitions (CloudFormation, CRDs, API exports, a live account)",
                         description=__doc__, formatter_class=_Formatter)  # fmt: skip
    parser.add_argument("sources", nargs="*", metavar="SOURCE",
                        help="CloudFormation templates, Kubernetes manifests or API exports (files or directories)")
    _target_arguments(parser.add_argument_group("target (the meshplane App Mesh API)"), env)
    _template_arguments(parser.add_argument_group("CloudFormation templates"))
    _account_arguments(parser.add_argument_group("a live App Mesh account"))


def _target_arguments(target: Any, env: Mapping[str, str]) -> None:
    env_option(target, "--endpoint-url", env=env, names=envvars.API_URL,
               help="the API endpoint: the stack output ApiUrl, or meshplane local up's; required")
    env_option(target, "--region", env=env, names=envvars.REGION, default=DEFAULT_REGION,
               help="region of the target (also AWS::Region of templates)")
    target.add_argument("--profile", help="AWS profile to call the target with (default: the standard credential "
                        "chain)")  # fmt: skip
    target.add_argument("--signing", choices=("auto", "execute-api", "appmesh"), default="auto",
                        help="sign for API Gateway (execute-api) or as App Mesh; auto: execute-api for "
                             "*.execute-api.* hosts")
    target.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    target.add_argument("--output", choices=("text", "json"), default="text",
                        help="text, or json: one document with the plan and the report")
    target.add_argument("--verbose", action="store_true", help="also list the fields of unchanged resources")


def _template_arguments(template: Any) -> None:
    template.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE",
                          help="a template parameter, repeatable (default: the template's own defaults)")
    template.add_argument("--import-value", action="append", default=[], metavar="EXPORT=VALUE",
                          help="the value of an export that Fn::ImportValue reads, repeatable")
    template.add_argument("--resource-value", action="append", default=[], metavar="ID[.ATTRIBUTE]=VALUE",
                          help="Ref (ID) or Fn::GetAtt (ID.ATTRIBUTE) of a non-App Mesh resource, repeatable")
    template.add_argument("--stack-name", default="meshplane-import", help="AWS::StackName")
    template.add_argument("--account-id",
                          help=f"AWS::AccountId (default: the caller's account for a deployed API, else "
                          f"{DEFAULT_ACCOUNT})")  # fmt: skip
    template.add_argument("--partition", default="aws", help="AWS::Partition")


def _account_arguments(account: Any) -> None:
    account.add_argument("--from-account", action="store_true", help="read every mesh of an App Mesh account")
    account.add_argument("--source-region", help="region of the App Mesh account (default: the profile's)")
    account.add_argument("--source-profile", help="AWS profile of the App Mesh account (default: the standard "
                         "credential chain)")  # fmt: skip
    account.add_argument("--source-endpoint-url", help="App Mesh endpoint to read (default: AWS)")
    account.add_argument("--mesh", action="append", default=[],
                         help="only these meshes, repeatable (default: every mesh)")
    account.add_argument("--save", type=Path, help="also write what was read to this file, as an export (JSON) "
                         "(default: not saved)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from meshplane.migrate.errors import InvalidSource, SourceError

    if not args.sources and not args.from_account:
        print("meshplane import: give SOURCE files or --from-account", file=sys.stderr)
        return EXIT_INVALID
    if not args.endpoint_url:
        print(f"meshplane import: --endpoint-url (or {envvars.API_URL}) is required", file=sys.stderr)
        return EXIT_INVALID
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        resources = _read(args)
        return _import(args, resources)
    except (BotoCoreError, ClientError) as error:
        print(f"meshplane import: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except InvalidSource as invalid:
        print(str(invalid), file=sys.stderr)
        return EXIT_INVALID
    except SourceError as error:
        print(f"1 problem in the sources; nothing was applied:\n  {error}", file=sys.stderr)
        return EXIT_INVALID
    except (LookupError, ValueError) as error:
        print(f"meshplane import: {error}", file=sys.stderr)
        return EXIT_INVALID


def _read(args: argparse.Namespace) -> list[Desired]:
    from meshplane.migrate.sources import cloudformation, export, files
    from meshplane.migrate.validate import validate

    options = cloudformation.StackOptions(
        parameters=_pairs(args.parameter, "--parameter"), import_values=_pairs(args.import_value, "--import-value"),
        resource_values=_pairs(args.resource_value, "--resource-value"), region=args.region,
        account=args.account_id or _target_account(args) or DEFAULT_ACCOUNT, partition=args.partition,
        stack_name=args.stack_name)
    resources = files.load(args.sources, options) if args.sources else []
    if args.from_account:
        documents = _read_account(args)
        resources += export.load_all([(f"account {args.source_region or 'default region'}", documents)])
    return validate(resources)


def _target_account(args: argparse.Namespace) -> str | None:
    """AWS::AccountId of templates: the deployed API's account is the caller's (STS); a local API has none."""
    if not args.sources or ".execute-api." not in (urlsplit(args.endpoint_url).hostname or ""):
        return None
    import boto3

    identity = boto3.Session(profile_name=args.profile, region_name=args.region).client("sts").get_caller_identity()
    return str(identity["Account"])


def _read_account(args: argparse.Namespace) -> list[dict[str, Any]]:
    import boto3

    from meshplane.migrate.sources import account

    session = boto3.Session(profile_name=args.source_profile, region_name=args.source_region)
    client = session.client("appmesh", endpoint_url=args.source_endpoint_url)
    documents = account.read(client, args.mesh)
    if args.save is not None:
        args.save.write_text(json.dumps(documents, indent=2) + "\n")
    return documents


def _import(args: argparse.Namespace, resources: list[Desired]) -> int:
    from meshplane.migrate import render
    from meshplane.migrate.apply import apply
    from meshplane.migrate.plan import make_plan

    client = target_client(args.endpoint_url, args.region, args.profile, args.signing)
    plan = make_plan(client, resources)
    report = None if args.dry_run or not plan.changes_anything else apply(client, plan)
    if args.output == "json":
        print(json.dumps({"plan": plan.to_json(), "report": report.to_json() if report else None}, indent=2,
                         default=str))
    else:
        print(render.plan_text(plan, verbose=args.verbose))
        if report is not None:
            print(render.report_text(report))
    return 0 if report is None or report.ok else EXIT_REFUSED


def target_client(endpoint_url: str, region: str | None, profile: str | None, signing: str = "auto") -> Any:
    """A boto3 `appmesh` client of the meshplane API, signing for API Gateway where it sits behind one."""
    import boto3
    from botocore.config import Config

    session = boto3.Session(profile_name=profile, region_name=region)
    host = urlsplit(endpoint_url).hostname or ""
    config = Config(retries={"mode": "standard", "max_attempts": 5})
    if host in LOOPBACK and session.get_credentials() is None:
        from botocore import UNSIGNED

        config = config.merge(Config(signature_version=UNSIGNED))  # `meshplane local up` checks no signature
    client = session.client("appmesh", endpoint_url=endpoint_url, config=config)
    if signing == "execute-api" or (signing == "auto" and ".execute-api." in host):
        from meshplane import signing as execute_api

        execute_api.register(client)
    return client


def _pairs(values: Sequence[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise ValueError(f"{option} {value!r}: expected KEY=VALUE")
        pairs[key] = rest
    return pairs
