"""`meshplane demo [--keep] [--non-interactive] [--report PATH]`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from meshplane.cliargs import add_command

# What `make` exports; the emulator accepts any credentials but boto3 wants some.  The demo's own process
# environment is set from them: its emulator, Envoys and functions are all local.
_DEFAULT_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def register(subparsers: Any, env: Mapping[str, str] | None = None) -> None:
    """The demo starts its own emulator, so it reads no setting from `env`."""
    parser = add_command(subparsers, "demo", _run, help="run a live mesh with real Envoys and walk a canary rollout")
    parser.add_argument("--keep", action="store_true", help="leave the mesh running until Ctrl-C")
    parser.add_argument("--non-interactive", action="store_true", help="plain lines instead of the live view")
    parser.add_argument("--report", type=Path, help="write every measured number to this JSON file (default: none)")


def _run(args: argparse.Namespace) -> int:
    from meshplane.demo import runner
    from meshplane.demo.view import PlainView, RichView

    for name, value in _DEFAULT_ENV.items():
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_ENDPOINT_URL", None)  # the demo starts its own emulator and points each client at it
    view = PlainView() if args.non_interactive else RichView()
    return runner.run(view, keep=args.keep, report_path=args.report, region=os.environ["AWS_DEFAULT_REGION"])
