"""The `tracing` policy section: OpenTelemetry spans over OTLP gRPC to a collector.

Why a policy: the proxy-level tracing knobs (X-Ray, Datadog, Jaeger) come from each
Envoy's environment at bootstrap and need a redeploy; an OpenTelemetry collector set
here reaches every targeted proxy as fast as a route change.  A virtual node's own
section wins over the mesh-wide one; both win over the bootstrap's tracing
(see translate/policy/tracing.py for the order).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, field_validator

from meshplane.model import addresses
from meshplane.model.base import AppMeshModel

TARGETS: frozenset[str] = frozenset({"mesh", "virtualNode", "virtualGateway"})


class _Section(AppMeshModel):
    model_config = ConfigDict(frozen=True)


class Collector(_Section):
    """Where the OTLP gRPC collector listens (a host name or an IP address, and a port)."""

    hostname: str
    port: Annotated[int, Field(ge=1, le=addresses.MAX_PORT)]

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str) -> str:
        return addresses.hostname(value)


class Tracing(_Section):
    """OpenTelemetry tracing of every request through the targeted proxies."""

    collector: Collector
    # Default: the proxy's virtual node or gateway name.
    service_name: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(default=None, alias="serviceName")
    sampling_percent: Annotated[float, Field(ge=0, le=100)] = Field(default=100.0, alias="samplingPercent")
