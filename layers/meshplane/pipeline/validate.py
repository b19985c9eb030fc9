"""Snapshot validators run before publishing: the consistency check always, and real Envoy where installed.

The Envoy check is the translator's: `translate.static.inline_bootstrap` holds
every resource of the snapshot statically (EDS and RDS inlined) and
`translate.envoy_check.validate` runs `envoy --mode validate` on it.  It runs
wherever an `envoy` binary is found (locally, in tests); Lambda has none and relies
on the consistency check.

Why Envoy is skipped for endpoints-only publishes: it costs a subprocess per
publish on the hottest path (one endpoint change), and what an EDS update can get
wrong (an assignment for an unknown cluster, a bad address or port) is what the
consistency check rejects, on every publish: its address checks
(`consistency.address_problems`, the rule of `model.addresses` that the event edges
apply too) stop an address stored some other way before it reaches an Envoy.
Listeners, routes and clusters are carried over unchanged from a snapshot Envoy
already accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from meshplane.pipeline.ports import Validator, consistency_validator
from meshplane.snapshot.snapshot import Snapshot


@dataclass(frozen=True)
class EnvoyValidator:
    """`envoy --mode validate` on the whole snapshot; not needed when only endpoints changed.

    `slow`: it runs a process, so the publisher writes the body while it runs (`publish.slow`)."""

    skip_for_endpoints_only: bool = True
    slow: bool = True

    def __call__(self, snapshot: Snapshot) -> list[str]:
        from meshplane.translate.envoy_check import EnvoyRejected, validate
        from meshplane.translate.static import inline_bootstrap

        try:
            validate(inline_bootstrap(snapshot))
        except EnvoyRejected as rejected:
            return [f"envoy rejected the snapshot: {rejected}"]
        return []


envoy_validator = EnvoyValidator()


def needed_for_endpoints_only(validator: Validator) -> bool:
    """Whether a validator runs on a publish that changes only EDS."""
    return not getattr(validator, "skip_for_endpoints_only", False)


def envoy_available() -> bool:
    from meshplane.envoy_binary import find as envoy_binary

    try:
        envoy_binary()
    except FileNotFoundError:
        return False
    return True


def default_validators(has_envoy: Callable[[], bool] = envoy_available) -> list[Validator]:
    validators: list[Validator] = [consistency_validator]
    if has_envoy():
        validators.append(envoy_validator)
    return validators
