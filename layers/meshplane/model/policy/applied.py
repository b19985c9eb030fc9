"""The policy sections that apply at one place of a proxy's view, as the graph hands them on.

Kept apart from `spec` so that importing the view loads no section model: a mesh without
policies never builds one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meshplane.model.policy.authorization import Authorization
    from meshplane.model.policy.ejection import OutlierDetectionExtra
    from meshplane.model.policy.headers import HeaderRules
    from meshplane.model.policy.jwt import JwtAuthentication
    from meshplane.model.policy.mirror import Mirror
    from meshplane.model.policy.rate_limit import RateLimit
    from meshplane.model.policy.retry_budget import RetryBudget
    from meshplane.model.policy.tracing import Tracing
    from meshplane.model.policy.zone_aware import ZoneAware


@dataclass(frozen=True)
class Sections:
    """One attribute per section (the spec's attribute names), None where no policy gives it.

    Empty by default, so a mesh without policies builds exactly the views it built before
    policies existed.  `sources` names the policies the sections came from.
    """

    authorization: Authorization | None = None
    jwt: JwtAuthentication | None = None
    headers: HeaderRules | None = None
    mirror: Mirror | None = None
    rate_limit: RateLimit | None = None
    zone_aware: ZoneAware | None = None
    outlier_detection: OutlierDetectionExtra | None = None
    retry_budget: RetryBudget | None = None
    tracing: Tracing | None = None
    sources: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self) if f.name != "sources")


NO_SECTIONS = Sections()
