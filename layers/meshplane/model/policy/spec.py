"""The Policy resource: its targets, its sections and the shape `describe` returns.

A policy gives one or more sections (authorization, jwt, headers, ...) to one or more
targets (the mesh, a virtual node or gateway, a route or gateway route).  Each section's
module declares the target kinds it applies to (`TARGETS`); giving a section to a kind
it does not support is refused with the field named.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from types import ModuleType
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from meshplane.model.base import AppMeshModel, AppMeshUnion
from meshplane.model.ids import Kind, ResourceKey
from meshplane.model.names import AppMeshName
from meshplane.model.policy import authorization as _authorization
from meshplane.model.policy import ejection as _ejection
from meshplane.model.policy import headers as _headers
from meshplane.model.policy import jwt as _jwt
from meshplane.model.policy import mirror as _mirror
from meshplane.model.policy import rate_limit as _rate_limit
from meshplane.model.policy import retry_budget as _retry_budget
from meshplane.model.policy import tracing as _tracing
from meshplane.model.policy import zone_aware as _zone_aware
from meshplane.model.policy.authorization import Authorization
from meshplane.model.policy.ejection import OutlierDetectionExtra
from meshplane.model.policy.headers import HeaderRules
from meshplane.model.policy.jwt import JwtAuthentication
from meshplane.model.policy.mirror import Mirror
from meshplane.model.policy.rate_limit import RateLimit
from meshplane.model.policy.retry_budget import RetryBudget
from meshplane.model.policy.tracing import Tracing
from meshplane.model.policy.zone_aware import ZoneAware
from meshplane.model.shapes.common import ResourceMetadata

MAX_TARGETS = 20
"""Targets per policy: one write stays within DynamoDB's 100 items per transaction (3 per target)."""

Name = Annotated[str, Field(min_length=1, max_length=255), AppMeshName]
TargetKind = Literal["mesh", "virtualNode", "virtualGateway", "route", "gatewayRoute"]
TARGET_KINDS: dict[str, Kind] = {
    "mesh": Kind.MESH,
    "virtualNode": Kind.VIRTUAL_NODE,
    "virtualGateway": Kind.VIRTUAL_GATEWAY,
    "route": Kind.ROUTE,
    "gatewayRoute": Kind.GATEWAY_ROUTE,
}


class SpecProblem(ValueError):
    """A rule across the spec's members; `field` is the path below `spec` it names ("" for the spec itself)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message = field, message


class _Model(AppMeshModel):
    model_config = ConfigDict(frozen=True)


class MeshTarget(_Model):
    """The whole mesh: every proxy in it (`{}`)."""


class VirtualNodeTarget(_Model):
    virtual_node_name: Name = Field(alias="virtualNodeName")


class VirtualGatewayTarget(_Model):
    virtual_gateway_name: Name = Field(alias="virtualGatewayName")


class RouteTarget(_Model):
    virtual_router_name: Name = Field(alias="virtualRouterName")
    route_name: Name = Field(alias="routeName")


class GatewayRouteTarget(_Model):
    virtual_gateway_name: Name = Field(alias="virtualGatewayName")
    gateway_route_name: Name = Field(alias="gatewayRouteName")


class PolicyTarget(AppMeshUnion):
    """Exactly one of the target kinds."""

    model_config = ConfigDict(frozen=True)

    mesh: MeshTarget | None = None
    virtual_node: VirtualNodeTarget | None = Field(default=None, alias="virtualNode")
    virtual_gateway: VirtualGatewayTarget | None = Field(default=None, alias="virtualGateway")
    route: RouteTarget | None = None
    gateway_route: GatewayRouteTarget | None = Field(default=None, alias="gatewayRoute")

    @property
    def kind(self) -> str:
        """The wire name of the target kind (`virtualNode` ...)."""
        attr, _ = self.member
        return to_camel(attr)

    def key(self, mesh: str) -> ResourceKey:
        """The App Mesh resource this target names in `mesh`."""
        attr, value = self.member
        kind = TARGET_KINDS[to_camel(attr)]
        if kind is Kind.MESH:
            return ResourceKey(Kind.MESH, mesh, mesh)
        if kind is Kind.ROUTE:
            return ResourceKey(kind, mesh, value.route_name, value.virtual_router_name)
        if kind is Kind.GATEWAY_ROUTE:
            return ResourceKey(kind, mesh, value.gateway_route_name, value.virtual_gateway_name)
        name = value.virtual_node_name if kind is Kind.VIRTUAL_NODE else value.virtual_gateway_name
        return ResourceKey(kind, mesh, name)

    @classmethod
    def of(cls, key: ResourceKey) -> PolicyTarget:
        """The target naming `key` (the inverse of `key`)."""
        if key.kind is Kind.MESH:
            return cls(mesh=MeshTarget())
        if key.kind is Kind.VIRTUAL_NODE:
            return cls(virtual_node=VirtualNodeTarget(virtual_node_name=key.name))
        if key.kind is Kind.VIRTUAL_GATEWAY:
            return cls(virtual_gateway=VirtualGatewayTarget(virtual_gateway_name=key.name))
        if key.kind is Kind.ROUTE:
            return cls(route=RouteTarget(virtual_router_name=key.parent or "", route_name=key.name))
        if key.kind is Kind.GATEWAY_ROUTE:
            return cls(gateway_route=GatewayRouteTarget(virtual_gateway_name=key.parent or "",
                                                         gateway_route_name=key.name))
        raise ValueError(f"a {key.kind.value} cannot be a policy target")


# (attribute, the section's module): the module's TARGETS says which target kinds take it
SECTION_MODULES: tuple[tuple[str, ModuleType], ...] = (
    ("authorization", _authorization),
    ("jwt", _jwt),
    ("headers", _headers),
    ("mirror", _mirror),
    ("rate_limit", _rate_limit),
    ("zone_aware", _zone_aware),
    ("outlier_detection", _ejection),
    ("retry_budget", _retry_budget),
    ("tracing", _tracing),
)
SECTIONS: tuple[str, ...] = tuple(to_camel(attr) for attr, _ in SECTION_MODULES)
"""The wire names of the sections (`rateLimit` ...), in the order the spec lists them."""


class PolicySpec(_Model):
    """`targets` and at least one section; each section applies to the target kinds its module lists."""

    targets: Annotated[list[PolicyTarget], Field(min_length=1, max_length=MAX_TARGETS)]
    authorization: Authorization | None = None
    jwt: JwtAuthentication | None = None
    headers: HeaderRules | None = None
    mirror: Mirror | None = None
    rate_limit: RateLimit | None = Field(default=None, alias="rateLimit")
    zone_aware: ZoneAware | None = Field(default=None, alias="zoneAware")
    outlier_detection: OutlierDetectionExtra | None = Field(default=None, alias="outlierDetection")
    retry_budget: RetryBudget | None = Field(default=None, alias="retryBudget")
    tracing: Tracing | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PolicySpec:
        for problem in _problems(self):
            raise problem
        return self

    def sections(self) -> dict[str, Any]:
        """The sections given, by wire name (`rateLimit` ...)."""
        return {to_camel(attr): value for attr, _ in SECTION_MODULES if (value := getattr(self, attr)) is not None}

    def target_keys(self, mesh: str) -> list[ResourceKey]:
        return [target.key(mesh) for target in self.targets]

    def references(self, mesh: str) -> list[tuple[str, ResourceKey]]:
        """Resources the sections name besides the targets, as (field, key): they must exist when written."""
        if self.mirror is None:
            return []
        return [("spec.mirror.virtualNodeName", ResourceKey(Kind.VIRTUAL_NODE, mesh, self.mirror.virtual_node_name))]


def _problems(spec: PolicySpec) -> Iterator[SpecProblem]:
    given = spec.sections()
    if not given:
        yield SpecProblem("", f"at least one section must be given: one of {', '.join(SECTIONS)}")
    seen: dict[str, int] = {}
    for i, target in enumerate(spec.targets):
        ident = target.model_dump_json(by_alias=True)
        if ident in seen:
            yield SpecProblem(f"targets[{i}]", f"the same target as targets[{seen[ident]}]")
        seen.setdefault(ident, i)
    for attr, module in SECTION_MODULES:
        if getattr(spec, attr) is None:
            continue
        allowed: frozenset[str] = module.TARGETS
        for i, target in enumerate(spec.targets):
            if target.kind not in allowed:
                kinds = " and ".join(sorted(allowed))
                yield SpecProblem(to_camel(attr), f"applies to {kinds} targets only, not targets[{i}] "
                                                  f"({target.kind})")


class PolicyStatus(_Model):
    status: Literal["ACTIVE", "DELETED"] = "ACTIVE"


class PolicyData(_Model):
    """A policy as `describe` returns it; `MeshState.policies` holds these by name."""

    mesh_name: Name = Field(alias="meshName")
    policy_name: Name = Field(alias="policyName")
    spec: PolicySpec
    metadata: ResourceMetadata
    status: PolicyStatus = PolicyStatus()


class PolicyRef(_Model):
    """One policy in a listing."""

    mesh_name: Name = Field(alias="meshName")
    policy_name: Name = Field(alias="policyName")
    arn: str
    version: int
    created_at: datetime = Field(alias="createdAt")
    last_updated_at: datetime = Field(alias="lastUpdatedAt")
    mesh_owner: str = Field(alias="meshOwner")
    resource_owner: str = Field(alias="resourceOwner")
