"""The Rollout extension API: declare, list, describe and delete rollouts, and drive them by command.

Beside the Policy API under `/meshplane/v1/` (and bound, matched and answered the same way,
`api.policy_api`): boto3-style camelCase JSON, App Mesh's error shapes naming the field.

| operation | method and path |
|---|---|
| CreateRollout | `PUT /meshplane/v1/meshes/{meshName}/rollouts` (body: rolloutName, spec, tags, clientToken) |
| ListRollouts | `GET /meshplane/v1/meshes/{meshName}/rollouts?limit=&nextToken=` |
| DescribeRollout | `GET /meshplane/v1/meshes/{meshName}/rollouts/{rolloutName}` (spec, metadata, status and history) |
| DeleteRollout | `DELETE /meshplane/v1/meshes/{meshName}/rollouts/{rolloutName}` (not while PROGRESSING or PAUSED) |
| Start/Pause/Resume/Abort/PromoteRollout | `POST /meshplane/v1/meshes/{meshName}/rollouts/{rolloutName}/{start,...}` |

A command stores the rollout's next progress (conditioned on its version) and then puts the
weights it names on the route by `UpdateRoute`; a failure between the two is repaired by the
controller's next tick, which applies the stored weights.
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

from pydantic import Field

from meshplane.api import pagination, rollout_route
from meshplane.api.operations import _request_hash
from meshplane.api.permissions import Check
from meshplane.api.policy_api import Name, Route, Token
from meshplane.model.base import AppMeshModel
from meshplane.model.ids import Kind, ResourceKey
from meshplane.model.rollout import controller
from meshplane.model.rollout.spec import RolloutSpec
from meshplane.model.rollout.state import RolloutData, RolloutProgress
from meshplane.model.shapes.common import TagRef
from meshplane.store import extension
from meshplane.store.errors import Conflict
from meshplane.store.limits import MAX_TAGS_PER_RESOURCE
from meshplane.store.resources import ResourceStore
from meshplane.store.rollouts import RolloutStore, rollout_path

DEFAULT_PAGE = 100


class RolloutInput(AppMeshModel):
    mesh_name: Name = Field(alias="meshName")
    rollout_name: Name = Field(alias="rolloutName")


class CreateRolloutInput(RolloutInput):
    spec: RolloutSpec
    tags: Annotated[list[TagRef], Field(max_length=MAX_TAGS_PER_RESOURCE)] | None = None
    client_token: Token | None = Field(default=None, alias="clientToken")


class ListRolloutsInput(AppMeshModel):
    mesh_name: Name = Field(alias="meshName")
    limit: Annotated[int, Field(ge=1, le=100)] | None = None
    next_token: str | None = Field(default=None, alias="nextToken")


class RolloutOutput(AppMeshModel):
    rollout: RolloutData


class RolloutRef(AppMeshModel):
    mesh_name: str = Field(alias="meshName")
    rollout_name: str = Field(alias="rolloutName")
    arn: str
    version: int
    phase: str
    step: int


class ListRolloutsOutput(AppMeshModel):
    rollouts: list[RolloutRef]
    next_token: str | None = Field(default=None, alias="nextToken")


_MESH = r"^/meshplane/v1/meshes/(?P<meshName>[^/]+)/rollouts"
_ONE = _MESH + r"/(?P<rolloutName>[^/]+)"
ROUTES = (
    Route("CreateRollout", "PUT", re.compile(_MESH + "$"), CreateRolloutInput,
          frozenset({"rolloutName", "spec", "tags", "clientToken"})),
    Route("ListRollouts", "GET", re.compile(_MESH + "$"), ListRolloutsInput, query=frozenset({"limit", "nextToken"})),
    Route("DescribeRollout", "GET", re.compile(_ONE + "$"), RolloutInput),
    Route("DeleteRollout", "DELETE", re.compile(_ONE + "$"), RolloutInput),
    *(Route(f"{name.capitalize()}Rollout", "POST", re.compile(_ONE + f"/{name}$"), RolloutInput)
      for name in controller.COMMANDS),
)


def owns(path: str) -> bool:
    return re.match(_MESH + "(/|$)", path) is not None


def checks(operation: str, inp: Any, store: ResourceStore) -> list[Check]:
    """IAM checks: `meshplane:<Operation>` on the rollout's ARN (the mesh's for a listing), and a create
    also on the route it will drive, as `appmesh:UpdateRoute` would be."""
    def arn(key: ResourceKey) -> str:
        return key.arn(store.region, store.account, partition=store.partition)

    action = f"{extension.SERVICE}:{operation}"
    mesh = ResourceKey(Kind.MESH, inp.mesh_name, inp.mesh_name)
    if operation == "ListRollouts":
        return [Check(action, arn(mesh), mesh)]
    found = [Check(action, extension.arn(store, rollout_path(inp.mesh_name, inp.rollout_name)), mesh)]
    spec = getattr(inp, "spec", None)
    if spec is not None:
        route = spec.route.key(inp.mesh_name)
        found.append(Check("appmesh:UpdateRoute", arn(route), route))
    return found


class RolloutOperations:
    """Runs one bound rollout operation against the store."""

    def __init__(self, store: ResourceStore) -> None:
        self.resources = store
        self.store = RolloutStore(store)

    def run(self, name: str, inp: Any) -> AppMeshModel:
        if name == "CreateRollout":
            return self.create(inp)
        if name == "ListRollouts":
            return self.list(inp)
        if name == "DescribeRollout":
            return RolloutOutput(rollout=self.store.describe(inp.mesh_name, inp.rollout_name))
        if name == "DeleteRollout":
            return RolloutOutput(rollout=self.store.delete(inp.mesh_name, inp.rollout_name))
        return RolloutOutput(rollout=self.command(name.removesuffix("Rollout").lower(), inp))

    def create(self, inp: CreateRolloutInput) -> AppMeshModel:
        rollout_route.check_targets(self.resources, inp.mesh_name, inp.spec)
        tags = {t.key: t.value for t in inp.tags or ()}
        data = self.store.create(inp.mesh_name, inp.rollout_name, inp.spec, RolloutProgress(), tags=tags,
                                 token=inp.client_token, request_hash=_request_hash(inp))
        return RolloutOutput(rollout=data)

    def command(self, name: str, inp: RolloutInput) -> RolloutData:
        data = self.store.describe(inp.mesh_name, inp.rollout_name)
        if name == "start":
            rollout_route.check_targets(self.resources, inp.mesh_name, data.spec)
        try:
            progress = controller.command(data.spec, data.status, name, time.time())
        except controller.CommandRefused as exc:
            raise Conflict(str(exc)) from None
        saved = self.store.save(data, progress)
        if progress.weights is not None and progress.weights != data.status.weights:
            rollout_route.apply(self.resources, inp.mesh_name, data.spec, progress.weights)
        if controller.is_final(progress):
            self.store.release(saved)
        return saved

    def list(self, inp: ListRolloutsInput) -> AppMeshModel:
        scope = f"ListRollouts/{inp.mesh_name}"
        after = pagination.decode(inp.next_token, scope)
        page, last = self.store.list_page(inp.mesh_name, inp.limit or DEFAULT_PAGE, after)
        refs = [RolloutRef(mesh_name=d.mesh_name, rollout_name=d.rollout_name, arn=d.metadata.arn,
                           version=d.metadata.version, phase=d.status.phase, step=d.status.step) for d in page]
        return ListRolloutsOutput(rollouts=refs, next_token=pagination.encode(scope, last) if last else None)
