"""The `meshplane` command.  Each subcommand lives in its own module and registers itself.

Modules are imported only when the command line is parsed, so `meshplane ads`
never pays for the demo's imports and the Lambda handlers never import this file.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# (module, exported `register(subparsers)`): each registers one or more subcommands
# and sets `func` on its parser to a callable taking the parsed args, returning an exit code.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "meshplane.local.cli",
    "meshplane.delivery.cli",
    "meshplane.bootstrap.cli",
    "meshplane.identity.cli",
    "meshplane.demo.cli",
    "meshplane.apiproxy.cli",
    "meshplane.migrate.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meshplane", description="App Mesh-compatible control plane for Envoy")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module_name.startswith(exc.name):
                raise
            continue  # that subcommand's package is not installed in this build
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
