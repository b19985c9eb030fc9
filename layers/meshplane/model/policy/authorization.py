"""The `authorization` policy section: which callers may call which paths and methods of a proxy's ingress.

Callers are identified by the certificate they present to the listener's mTLS (so the
listener must validate client certificates for a caller rule to ever match):
- `subjectAlternativeName`: a DNS or URI SAN of the peer certificate, `exact` or `prefix`,
  with `type` naming which SAN kind is read (`ANY` reads both, as App Mesh's matchers did);
- `virtualNode` / `virtualGateway`: meshplane's SPIFFE convention, the URI SAN
  `spiffe://<trustDomain>/mesh/<mesh>/virtualNode/<name>` (or `/virtualGateway/<name>`).
  SPIRE or a private CA issues these names; the trust domain is the section's `trustDomain`.

Precedence: a request matching any DENY rule is refused; otherwise, when the section has ALLOW
rules, it must match one of them; a section of DENY rules only allows everything else.  A caller
without a certificate (plaintext, or TLS without a client certificate) has no identity: it
matches only rules without `from`.  HTTP listeners answer a refusal with 403; TCP listeners
close the connection.  On TCP listeners a rule's `to` cannot be checked, so it is read fail-closed:
an ALLOW rule with `to` allows nothing there, and a DENY rule with `to` denies its callers outright.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from meshplane.model.base import AppMeshModel
from meshplane.model.names import AppMeshName

TARGETS: frozenset[str] = frozenset({"virtualNode", "virtualGateway"})
"""Ingress of the targeted proxy: a virtual node's listeners or a virtual gateway's."""

MAX_RULES = 50
MAX_ITEMS = 50
"""Entries per list: enough for real allow-lists, few enough that Envoy's matching stays cheap."""

DEFAULT_TRUST_DOMAIN = "meshplane"
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
_TRUST_DOMAIN = re.compile(r"^[a-z0-9._-]{1,255}$")  # SPIFFE: lowercase letters, digits, '.', '-', '_'

Method = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]
SanText = Annotated[str, Field(min_length=1, max_length=254)]
ResourceName = Annotated[str, Field(min_length=1, max_length=255), AppMeshName]


class _Section(AppMeshModel):
    """Frozen: one resolved section is shared by every proxy view that reads it."""

    model_config = ConfigDict(frozen=True)


class _OneOf(_Section):
    """Exactly one of `exact` or `prefix`."""

    exact: SanText | None = None
    prefix: SanText | None = None

    @model_validator(mode="after")
    def _one(self) -> _OneOf:
        if (self.exact is None) == (self.prefix is None):
            raise ValueError("exactly one of exact or prefix must be set")
        return self


class SanMatch(_OneOf):
    """A peer certificate name: `type` is the SAN kind read (DNS, URI or ANY of them)."""

    type: Literal["DNS", "URI", "ANY"] = "ANY"


class PathMatch(_OneOf):
    """A request path, matched before the query string."""

    @model_validator(mode="after")
    def _slash(self) -> PathMatch:
        value = self.exact if self.exact is not None else self.prefix
        if value is not None and not value.startswith("/"):
            raise ValueError("a path must start with '/'")
        return self


class Caller(_Section):
    """One caller identity: exactly one of a SAN match, a virtual node or a virtual gateway."""

    subject_alternative_name: SanMatch | None = Field(default=None, alias="subjectAlternativeName")
    virtual_node: ResourceName | None = Field(default=None, alias="virtualNode")
    virtual_gateway: ResourceName | None = Field(default=None, alias="virtualGateway")

    @model_validator(mode="after")
    def _one(self) -> Caller:
        given = [v for v in (self.subject_alternative_name, self.virtual_node, self.virtual_gateway) if v]
        if len(given) != 1:
            raise ValueError("exactly one of subjectAlternativeName, virtualNode or virtualGateway must be set")
        return self

    def spiffe_id(self, trust_domain: str, mesh: str) -> str | None:
        """The URI SAN a virtual node or gateway caller presents under meshplane's convention."""
        if self.virtual_node is not None:
            return f"spiffe://{trust_domain}/mesh/{mesh}/virtualNode/{self.virtual_node}"
        if self.virtual_gateway is not None:
            return f"spiffe://{trust_domain}/mesh/{mesh}/virtualGateway/{self.virtual_gateway}"
        return None


class Operation(_Section):
    """What is called: any of `paths` and any of `methods` (an absent list matches everything)."""

    paths: Annotated[list[PathMatch], Field(min_length=1, max_length=MAX_ITEMS)] | None = None
    methods: Annotated[list[Method], Field(min_length=1, max_length=len(METHODS))] | None = None

    @model_validator(mode="after")
    def _something(self) -> Operation:
        if self.paths is None and self.methods is None:
            raise ValueError("at least one of paths or methods must be given (leave `to` out to match every call)")
        if self.methods is not None and len(set(self.methods)) != len(self.methods):
            raise ValueError("methods lists a method twice")
        return self


class Rule(_Section):
    """`action` applies to requests from any of `from` to `to` (absent: every caller / every call)."""

    name: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    action: Literal["ALLOW", "DENY"]
    from_: Annotated[list[Caller], Field(min_length=1, max_length=MAX_ITEMS)] | None = Field(
        default=None, alias="from")
    to: Operation | None = None


class Authorization(_Section):
    """DENY rules first, then ALLOW rules if there are any (see the module docstring)."""

    trust_domain: Annotated[str, Field(min_length=1, max_length=255)] = Field(
        default=DEFAULT_TRUST_DOMAIN, alias="trustDomain")
    rules: Annotated[list[Rule], Field(min_length=1, max_length=MAX_RULES)]

    @model_validator(mode="after")
    def _consistent(self) -> Authorization:
        if not _TRUST_DOMAIN.match(self.trust_domain):
            raise ValueError("trustDomain: lowercase letters, digits, '.', '-' and '_' only (a SPIFFE trust domain)")
        names = [r.name for r in self.rules if r.name is not None]
        if len(names) != len(set(names)):
            raise ValueError("rules: two rules have the same name")
        allows = {_signature(r) for r in self.rules if r.action == "ALLOW"}
        for i, rule in enumerate(self.rules):
            if rule.action == "DENY" and _signature(rule) in allows:
                raise ValueError(f"rules[{i}]: denies exactly what an ALLOW rule allows; remove one of them")
        return self

    @property
    def allows(self) -> list[Rule]:
        return [r for r in self.rules if r.action == "ALLOW"]

    @property
    def denies(self) -> list[Rule]:
        return [r for r in self.rules if r.action == "DENY"]


def _signature(rule: Rule) -> str:
    """What a rule matches, independent of its name and action (for contradicting-rule checks)."""
    return rule.model_dump_json(exclude={"name", "action"})
