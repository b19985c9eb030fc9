"""The Policy extension API: five rest-json operations beside App Mesh's, with App Mesh's error shapes.

Paths live under `/meshplane/v1/`, which no App Mesh operation uses, so every App Mesh
client keeps working unchanged.  Requests are read as strictly as App Mesh's (unknown
fields, wrong types and out-of-range values are a BadRequest naming the field) and the
writes go through `store.policies` with the same versions, client tokens and quotas.

| operation | method and path |
|---|---|
| CreatePolicy | `PUT /meshplane/v1/meshes/{meshName}/policies` (body: policyName, spec, tags, clientToken) |
| ListPolicies | `GET /meshplane/v1/meshes/{meshName}/policies?limit=&nextToken=` |
| DescribePolicy | `GET /meshplane/v1/meshes/{meshName}/policies/{policyName}` |
| UpdatePolicy | `PUT /meshplane/v1/meshes/{meshName}/policies/{policyName}` (body: spec, clientToken) |
| DeletePolicy | `DELETE /meshplane/v1/meshes/{meshName}/policies/{policyName}` |
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import unquote

from pydantic import Field, ValidationError

from meshplane.api import pagination, strict_json
from meshplane.api.binding import describe_validation_error
from meshplane.api.operations import _request_hash
from meshplane.model.base import AppMeshModel
from meshplane.model.names import AppMeshName
from meshplane.model.policy.keys import PolicyKey
from meshplane.model.policy.spec import PolicyData, PolicyRef, PolicySpec, SpecProblem
from meshplane.model.shapes.common import TagRef
from meshplane.store.errors import BadRequest, NotFound
from meshplane.store.limits import MAX_TAGS_PER_RESOURCE, SPEC_MAX_BYTES
from meshplane.store.policies import PolicyStore
from meshplane.store.resources import ResourceStore
from meshplane.store.schema import spec_json

DEFAULT_PAGE = 100
Name = Annotated[str, Field(min_length=1, max_length=255), AppMeshName]
Token = Annotated[str, Field(max_length=36, pattern="^[A-Za-z0-9_-]*$")]


class PolicyInput(AppMeshModel):
    mesh_name: Name = Field(alias="meshName")
    policy_name: Name = Field(alias="policyName")


class CreatePolicyInput(PolicyInput):
    spec: PolicySpec
    tags: Annotated[list[TagRef], Field(max_length=MAX_TAGS_PER_RESOURCE)] | None = None
    client_token: Token | None = Field(default=None, alias="clientToken")


class UpdatePolicyInput(PolicyInput):
    spec: PolicySpec
    client_token: Token | None = Field(default=None, alias="clientToken")


class ListPoliciesInput(AppMeshModel):
    mesh_name: Name = Field(alias="meshName")
    limit: Annotated[int, Field(ge=1, le=100)] | None = None
    next_token: str | None = Field(default=None, alias="nextToken")


class PolicyOutput(AppMeshModel):
    policy: PolicyData


class ListPoliciesOutput(AppMeshModel):
    policies: list[PolicyRef]
    next_token: str | None = Field(default=None, alias="nextToken")


@dataclass(frozen=True)
class Route:
    """One operation: its method, path pattern, input model and the body members it takes."""

    name: str
    method: str
    pattern: re.Pattern[str]
    model: type[AppMeshModel]
    body: frozenset[str] = frozenset()
    query: frozenset[str] = frozenset()


_MESH = r"^/meshplane/v1/meshes/(?P<meshName>[^/]+)/policies"
_ONE = _MESH + r"/(?P<policyName>[^/]+)$"
ROUTES = (
    Route("CreatePolicy", "PUT", re.compile(_MESH + "$"), CreatePolicyInput,
          frozenset({"policyName", "spec", "tags", "clientToken"})),
    Route("ListPolicies", "GET", re.compile(_MESH + "$"), ListPoliciesInput, query=frozenset({"limit", "nextToken"})),
    Route("DescribePolicy", "GET", re.compile(_ONE), PolicyInput),
    Route("UpdatePolicy", "PUT", re.compile(_ONE), UpdatePolicyInput, frozenset({"spec", "clientToken"})),
    Route("DeletePolicy", "DELETE", re.compile(_ONE), PolicyInput),
)


_OWNED = re.compile(r"^/meshplane/v1/meshes/[^/]+/policies(/|$)")


def owns(path: str) -> bool:
    """Whether `path` is in a mesh's policies collection (App Mesh's paths start with `/v20190125/`)."""
    return _OWNED.match(path) is not None


def match(method: str, path: str, routes: Sequence[Route] = ROUTES) -> tuple[Route, dict[str, str]]:
    """The operation of `routes` at `method path` and its decoded labels; NotFound otherwise."""
    matched = False
    for route in routes:
        found = route.pattern.match(path)
        if found is None:
            continue
        matched = True
        if route.method == method:
            return route, {k: unquote(v) for k, v in found.groupdict().items()}
    if matched:
        raise NotFound(f"{strict_json.shown(method)} is not supported on {strict_json.shown(path)}")
    raise NotFound(f"no meshplane operation at {strict_json.shown(path)}")


def bind(route: Route, labels: Mapping[str, str], query: Mapping[str, Sequence[str]], body: bytes | None) -> Any:
    """The validated input of `route`; BadRequest naming the field for anything else."""
    values: dict[str, Any] = {}
    if body is not None and body.strip():
        content = strict_json.loads(body, "body")
        if not isinstance(content, dict):
            raise BadRequest("body: must be a JSON object")
        for field in content:
            if field not in route.body:
                raise BadRequest(f"{strict_json.shown(field)}: unknown field for {route.name}")
        values.update(content)
    for name, given in query.items():
        if name not in route.query:
            raise BadRequest(f"{strict_json.shown(name)}: unknown query parameter for {route.name}")
        value = given[-1] if given else ""
        if name == "limit":
            if not re.fullmatch(r"[0-9]{1,9}", value):
                raise BadRequest(f"limit: must be an integer, got {strict_json.shown(value)}")
            values[name] = int(value)
        else:
            values[name] = value
    values.update(labels)
    try:
        inp = route.model.model_validate(values)
    except ValidationError as exc:
        raise BadRequest(_described(exc)) from None
    spec = getattr(inp, "spec", None)
    if spec is not None and len(spec_json(spec).encode()) > SPEC_MAX_BYTES:
        raise BadRequest(f"spec: larger than {SPEC_MAX_BYTES} bytes when stored (one DynamoDB item)")
    return inp


def _described(exc: ValidationError) -> str:
    """A spec-wide rule names its field below `spec`; every other error as the App Mesh API words it."""
    first = exc.errors(include_url=False)[0]
    problem = (first.get("ctx") or {}).get("error")
    if isinstance(problem, SpecProblem):
        where = ".".join(str(p) for p in (*first["loc"], problem.field) if p != "")
        return f"{where}: {problem.message}"
    return describe_validation_error(exc)


class PolicyOperations:
    """Runs one bound policy operation against the store."""

    def __init__(self, store: ResourceStore) -> None:
        self.store = PolicyStore(store)

    def run(self, name: str, inp: Any) -> AppMeshModel:
        verb = name.removesuffix("Policy").removesuffix("Policies").lower()  # CreatePolicy -> create
        handler: Callable[[Any], AppMeshModel] = getattr(self, verb)
        return handler(inp)

    def create(self, inp: CreatePolicyInput) -> AppMeshModel:
        tags = {t.key: t.value for t in inp.tags or ()}
        data = self.store.create(_key(inp), inp.spec, tags=tags, token=inp.client_token,
                                 request_hash=_request_hash(inp))
        return PolicyOutput(policy=data)

    def update(self, inp: UpdatePolicyInput) -> AppMeshModel:
        return PolicyOutput(policy=self.store.update(_key(inp), inp.spec, token=inp.client_token,
                                                     request_hash=_request_hash(inp)))

    def describe(self, inp: PolicyInput) -> AppMeshModel:
        return PolicyOutput(policy=self.store.describe(_key(inp)))

    def delete(self, inp: PolicyInput) -> AppMeshModel:
        return PolicyOutput(policy=self.store.delete(_key(inp)))

    def list(self, inp: ListPoliciesInput) -> AppMeshModel:
        scope = f"ListPolicies/{inp.mesh_name}"
        after = pagination.decode(inp.next_token, scope)
        page, last = self.store.list_page(inp.mesh_name, inp.limit or DEFAULT_PAGE, after)
        refs = [_ref(data) for data in page]
        return ListPoliciesOutput(policies=refs, next_token=pagination.encode(scope, last) if last else None)


def _key(inp: PolicyInput) -> PolicyKey:
    return PolicyKey(inp.mesh_name, inp.policy_name)


def _ref(data: PolicyData) -> PolicyRef:
    meta = data.metadata
    return PolicyRef(mesh_name=data.mesh_name, policy_name=data.policy_name, arn=meta.arn, version=meta.version,
                     created_at=meta.created_at, last_updated_at=meta.last_updated_at, mesh_owner=meta.mesh_owner,
                     resource_owner=meta.resource_owner)
