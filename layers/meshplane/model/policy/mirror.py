"""The `mirror` policy section: copy a share of a route's requests to a shadow virtual node.

Envoy sends the copy fire-and-forget and drops its response, so callers only
ever see the primary's answers; the copy's `Host`/`:authority` gets a
`-shadow` suffix, which lets the shadow tell mirrored traffic apart.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, field_validator

from meshplane.model.base import AppMeshModel

TARGETS: frozenset[str] = frozenset({"route"})
"""Route targets only: Envoy mirrors per route (an HTTP-family route; the graph refuses a TCP one)."""

PERCENT_DECIMALS = 4
"""Envoy's finest fraction is per million, so a percent has at most four decimals."""


class Mirror(AppMeshModel):
    """Mirror `percent` of the route's requests to `virtualNodeName` in the same mesh."""

    model_config = ConfigDict(frozen=True)

    virtual_node_name: Annotated[str, Field(min_length=1, max_length=255, alias="virtualNodeName")]
    percent: Annotated[float, Field(gt=0, le=100)] = 100.0

    @field_validator("percent")
    @classmethod
    def _resolution(cls, percent: float) -> float:
        if round(percent, PERCENT_DECIMALS) != percent:
            raise ValueError(f"percent has at most {PERCENT_DECIMALS} decimals (Envoy counts per million)")
        return percent

    @property
    def per_million(self) -> int:
        """The share as Envoy's FractionalPercent numerator over a million."""
        return round(self.percent * 10_000)
