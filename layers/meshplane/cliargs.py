"""How every `meshplane` subcommand parses its command line.

- `--help` ends each option with its default and the environment variables it falls back to,
  so an operator sees what runs without reading the code.
- A flag that has an environment variable reads it here, when the parser is built
  (`env_option`): the parsed arguments are the command's settings, from one place.
- A command line that cannot work is one line on stderr and exit status 2, never a usage
  dump or a traceback (`Parser.error`, `UsageError`).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

_ENV_NAMES = "meshplane_env_names"  # attribute of an argparse action: the variables behind its default
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

Command = Callable[[argparse.Namespace], int | None]


class UsageError(SystemExit):
    """Flags that cannot work together or are missing: `meshplane` prints the message and exits with status 2.

    A SystemExit, so that code run outside `meshplane.cli.run` (a health check parsing the server's flags, a
    test) still stops with the message instead of handling it as an ordinary error.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CommandFailed(Exception):
    """The command cannot go on for a reason outside the code, said in one line: `meshplane` exits with status 1."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's help ends with its default (unless the text says it) and the variables it reads."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.option_strings and not action.required and action.default is not argparse.SUPPRESS
                and "default" not in text.lower()):
            text += f" (default: {_shown_default(action)})"
        names = getattr(action, _ENV_NAMES, ())
        if names:
            text += f" [env: {', '.join(names)}]"
        return text


def _shown_default(action: argparse.Action) -> str:
    if action.nargs == 0 and isinstance(action.const, bool):  # a switch: store_true or store_false
        return "on" if action.default else "off"
    if action.default is None or action.default == []:
        return "none"
    return "%(default)s"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line naming the command, and whose help shows defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def add_command(subparsers: Any, name: str, run: Command, *, help: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand running `run(args)`; its help shows defaults and variables even under a plain parent parser."""
    kwargs.setdefault("formatter_class", HelpFormatter)
    kwargs.setdefault("description", help)
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help, **kwargs)
    parser.set_defaults(func=run, command_prog=parser.prog)
    return parser


def environment(env: Mapping[str, str] | None) -> Mapping[str, str]:
    """The variables flags fall back to: the process environment unless a caller (a test) gives its own."""
    return os.environ if env is None else env


def env_option(
    parser: Any, *flags: str, env: Mapping[str, str], names: str | Sequence[str], default: Any = None, **kwargs: Any
) -> argparse.Action:
    """A flag whose default is the first of `names` set (non-empty) in `env`, else `default`.

    argparse converts a string default with the flag's `type`, so a malformed variable is
    refused like a malformed flag.
    """
    names = (names,) if isinstance(names, str) else tuple(names)
    value = next((env[name] for name in names if env.get(name)), default)
    return document_env(parser.add_argument(*flags, default=value, **kwargs), *names)


def document_env(action: argparse.Action, *names: str) -> argparse.Action:
    """Name in `--help` the variables that another layer reads for this flag's setting."""
    setattr(action, _ENV_NAMES, names)
    return action


def env_names(action: argparse.Action) -> tuple[str, ...]:
    """The variables `--help` names for `action`."""
    return tuple(getattr(action, _ENV_NAMES, ()))


def log_level_option(parser: Any) -> None:
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default="INFO", metavar="LEVEL",
                        help=f"log records at this level and above go to stderr: {', '.join(LOG_LEVELS)}")


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format=LOG_FORMAT)
