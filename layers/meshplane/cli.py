"""The `meshplane` command.  Each subcommand lives in its own module and registers itself.

Modules are imported only when the command line is parsed, so `meshplane ads`
never pays for the demo's imports and the Lambda handlers never import this file.
The environment is read once, here, and handed to each module's `register`: a flag
that falls back to a variable takes its default from it, and `--help` names it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Mapping, Sequence

from meshplane import extras
from meshplane.cliargs import CommandFailed, Parser, UsageError, environment
from meshplane.clierrors import describe

# (module, exported `register(subparsers, env)`): each registers one or more subcommands
# and sets `func` on its parser to a callable taking the parsed args, returning an exit code.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "meshplane.local.cli",
    "meshplane.delivery.cli",
    "meshplane.bootstrap.cli",
    "meshplane.identity.cli",
    "meshplane.demo.cli",
    "meshplane.apiproxy.cli",
    "meshplane.migrate.cli",
    "meshplane.console.cli",
    "meshplane.policycli",
    "meshplane.rolloutcli",
    "meshplane.delivery.collector_cli",
)
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def version() -> str:
    """The installed distribution's version (the one `pip show meshplane` reports)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("meshplane")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser(env: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; flags fall back to `env` (default: the process environment)."""
    parser = Parser(prog="meshplane", description="App Mesh-compatible control plane for Envoy")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}",
                        help="print the installed version and exit")  # fmt: skip
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    variables = environment(env)
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module_name.startswith(exc.name):
                raise
            continue  # that subcommand's package is not installed in this build
        module.register(subparsers, variables)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the parsed subcommand; an operator's mistake is one line on stderr, never a traceback."""
    prog = getattr(args, "command_prog", "meshplane")
    try:
        extras.require(getattr(args, "command", None))  # `local` and `demo` need the local extra
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"{prog}: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except CommandFailed as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        message = describe(exc)
        if message is None:
            raise
        print(f"{prog}: {message}", file=sys.stderr)
        return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
