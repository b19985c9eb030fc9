"""CloudWatch's percentile statistics (`p99`, `p99.9`) in GetMetricData, which moto answers with nothing.

CloudWatch computes a percentile over the raw values of each period (values put with
`Values`/`Counts` or one `Value` at a time); moto knows only Sum, Average, Minimum, Maximum and
SampleCount.  Here a `pNN` statistic is the nearest-rank percentile of the period's single
values, as CloudWatch gives it for samples it holds exactly.
"""

from __future__ import annotations

import math
import re
from typing import Any

_INSTALLED = "_meshplane_percentiles"
PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d+)?|100)")


def percentile(values: list[float], rank: float) -> float | None:
    """The nearest-rank percentile `rank` (0-100] of `values`; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]


def install() -> None:
    from moto.cloudwatch.models import Statistics

    original = Statistics.get_statistics_for_type
    if getattr(original, _INSTALLED, False):
        return

    def get_statistics_for_type(self: Any, stat: str) -> Any:
        found = PERCENTILE.fullmatch(stat)
        if found is None:
            return original(self, stat)
        return percentile(self.metric_single_values_list, float(found[1]))

    setattr(get_statistics_for_type, _INSTALLED, True)
    Statistics.get_statistics_for_type = get_statistics_for_type  # type: ignore[method-assign]  # moto's, patched
