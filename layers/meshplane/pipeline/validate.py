"""Snapshot validators run before publishing: the consistency check and, where installed, real Envoy.

The Envoy check is the translator's: `translate.static.inline_bootstrap` holds
every resource of the snapshot statically (EDS and RDS inlined) and
`translate.envoy_check.validate` runs `envoy --mode validate` on it.  It runs
wherever an `envoy` binary is found (locally, in tests); Lambda has none and relies
on the consistency check.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from meshplane.pipeline.ports import Validator, consistency_validator
from meshplane.snapshot.snapshot import Snapshot


def envoy_validator(snapshot: Snapshot) -> list[str]:
    """Envoy's own complaint about the snapshot, or nothing."""
    from meshplane.translate.envoy_check import EnvoyRejected, validate
    from meshplane.translate.static import inline_bootstrap

    try:
        validate(inline_bootstrap(snapshot))
    except EnvoyRejected as rejected:
        return [f"envoy rejected the snapshot: {rejected}"]
    return []


def envoy_available() -> bool:
    from meshplane.translate.envoy_check import envoy_binary

    try:
        envoy_binary()
    except FileNotFoundError:
        return False
    return True


def default_validators(has_envoy: Callable[[], bool] = envoy_available) -> list[Validator]:
    validators: list[Validator] = []
    if importlib.util.find_spec("meshplane.snapshot.consistency") is not None:
        validators.append(consistency_validator)
    if has_envoy():
        validators.append(envoy_validator)
    return validators
