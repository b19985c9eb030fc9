"""meshplane Rollout resources in the App Mesh table.

Items:

| pk | sk | item |
|---|---|---|
| `MESH#<mesh>` | `rollout#<name>` | a rollout: `extension` = `rollout`, metadata, `spec`, `progress`, `tags` |
| `ROLLOUTS` | `<mesh>#<route sk>` | the route's active rollout (`rollout`, `mesh`), listed by the controller |

The active item exists from a rollout's start until its final weights are on the route (`release`):
it is how the scheduled controller finds its work without a scan, why a second rollout of the same route
cannot start, and why the route cannot be deleted under it (`unrolled`, checked by
`ResourceStore.delete`).  A finished or pending rollout holds nothing: its route may go, and
starting it again is then a NotFound naming `spec.route`.  Every progress write is
conditioned on the version read, so two controllers (or a controller and an operator) never
both apply a decision.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from meshplane.model.ids import Kind, ResourceKey
from meshplane.store import extension, schema
from meshplane.store.errors import Conflict, MeshplaneError, NotFound, ResourceInUse, TooManyTags
from meshplane.store.transact import Write, attr, attrs, transact

if TYPE_CHECKING:
    from meshplane.model.rollout.spec import RolloutSpec
    from meshplane.model.rollout.state import RolloutData, RolloutProgress
    from meshplane.store.resources import ResourceStore

EXTENSION = "rollout"
ROLLOUT_PREFIX = "rollout#"
ACTIVE_PK = "ROLLOUTS"


def rollout_path(mesh: str, name: str) -> str:
    return f"mesh/{mesh}/rollout/{name}"


def describe_rollout(mesh: str, name: str) -> str:
    return f"rollout {name!r} in mesh {mesh!r}"


def data_of_item(item: Mapping[str, Any]) -> RolloutData:
    from meshplane.model.rollout.spec import RolloutSpec
    from meshplane.model.rollout.state import RolloutData, RolloutProgress

    return RolloutData(
        mesh_name=item["mesh"], rollout_name=item["name"], spec=RolloutSpec.model_validate_json(item["spec"]),
        metadata=extension.metadata_of(item), status=RolloutProgress.model_validate_json(item["progress"]),
    )


def active_sk(mesh: str, route: ResourceKey) -> str:
    return f"{mesh}#{schema.resource_sk(route)}"


def unrolled(table: str, route: ResourceKey) -> Write:
    """The ConditionCheck a route's delete carries: no rollout is PROGRESSING or PAUSED on it."""
    from meshplane.store.resources import describe_key

    check = {"TableName": table, "Key": attrs({"pk": ACTIVE_PK, "sk": active_sk(route.mesh, route)}),
             "ConditionExpression": "attribute_not_exists(pk)"}
    return Write({"ConditionCheck": check},
                 lambda: ResourceInUse(f"{describe_key(route)} is in use: a rollout is driving its weights; "
                                       "abort or promote it first"))


class RolloutStore:
    """Rollouts of one account and region, beside the App Mesh resources of `resources`."""

    def __init__(self, resources: ResourceStore) -> None:
        self.resources = resources
        self.table, self.client = resources.table, resources.client

    # --- reads -----------------------------------------------------------------------------

    def get_item(self, mesh: str, name: str) -> dict[str, Any] | None:
        return self.resources._get(schema.mesh_pk(mesh), ROLLOUT_PREFIX + name)

    def describe(self, mesh: str, name: str) -> RolloutData:
        return data_of_item(self._require(mesh, name))

    def list_page(self, mesh: str, limit: int, after: str | None) -> tuple[list[RolloutData], str | None]:
        """Up to `limit` rollouts in name order after `after`, and the next start or None."""
        self.resources._require(ResourceKey(Kind.MESH, mesh, mesh))
        start = ROLLOUT_PREFIX + after if after is not None else None
        items, more = self.resources._query_page(schema.mesh_pk(mesh), ROLLOUT_PREFIX, limit, start)
        return [data_of_item(i) for i in items], (items[-1]["name"] if more else None)

    def active(self) -> list[tuple[str, str]]:
        """(mesh, name) of every PROGRESSING or PAUSED rollout of the account."""
        return [(i["mesh"], i["rollout"]) for i in self.resources._query_all(ACTIVE_PK, "")]

    # --- writes ----------------------------------------------------------------------------

    def create(self, mesh: str, name: str, spec: RolloutSpec, progress: RolloutProgress, *,
               tags: Mapping[str, str] | None = None, token: str | None = None, request_hash: str = "") -> RolloutData:
        existing = self.get_item(mesh, name)
        if existing is not None:
            if extension.replayed(existing, token, request_hash):
                return data_of_item(existing)
            raise Conflict(f"{describe_rollout(mesh, name)} already exists")
        tags = dict(tags or {})
        if len(tags) > self.resources.limits.tags_per_resource:
            raise TooManyTags(f"tags: a resource holds at most {self.resources.limits.tags_per_resource} tags")
        item = {
            "pk": schema.mesh_pk(mesh), "sk": ROLLOUT_PREFIX + name, "extension": EXTENSION, "mesh": mesh,
            "name": name, **extension.new_metadata(self.resources, rollout_path(mesh, name), token, request_hash),
            "status": "ACTIVE", "spec": schema.spec_json(spec), "progress": schema.spec_json(progress), "tags": tags,
        }
        put = {"Put": {"TableName": self.table, "Item": attrs(item), "ConditionExpression": "attribute_not_exists(pk)"}}
        route = spec.route.key(mesh)
        transact(self.client, [Write(put, lambda: Conflict(f"{describe_rollout(mesh, name)} already exists")),
                               self._route_exists(route)])
        return data_of_item(item)

    def save(self, data: RolloutData, progress: RolloutProgress) -> RolloutData:
        """Store `progress` if the rollout is still at the version `data` was read at; Conflict otherwise.

        Starting claims the route's active item; ending does not release it (`release` does, once the
        final weights are on the route), so a controller that dies in between finds the rollout again.
        """
        from meshplane.model.rollout.state import ACTIVE

        mesh, name, version = data.mesh_name, data.rollout_name, data.metadata.version
        changes = {"version": version + 1, "lastUpdatedAt": schema.epoch(self.resources._clock()),
                   "progress": schema.spec_json(progress)}
        update = {
            "TableName": self.table, "Key": attrs({"pk": schema.mesh_pk(mesh), "sk": ROLLOUT_PREFIX + name}),
            "UpdateExpression": "SET " + ", ".join(f"#{n} = :{n}" for n in changes),
            "ConditionExpression": "#version = :expected",
            "ExpressionAttributeNames": {f"#{n}": n for n in changes},
            "ExpressionAttributeValues": {**{f":{n}": attr(v) for n, v in changes.items()}, ":expected": attr(version)},
        }
        writes = [Write({"Update": update}, lambda: self._lost_race(mesh, name, version))]
        if progress.phase in ACTIVE and data.status.phase not in ACTIVE:
            writes.append(self._claim(data))
        transact(self.client, writes)
        metadata = data.metadata.model_copy(update={"version": version + 1,
                                                    "last_updated_at": extension.moment(changes["lastUpdatedAt"])})
        return data.model_copy(update={"status": progress, "metadata": metadata})

    def release(self, data: RolloutData) -> None:
        """Drop the route's active item of this finished rollout (a no-op when it holds none)."""
        keys = {"pk": ACTIVE_PK, "sk": active_sk(data.mesh_name, data.spec.route.key(data.mesh_name))}
        delete = {"TableName": self.table, "Key": attrs(keys), "ConditionExpression": "#rollout = :me",
                  "ExpressionAttributeNames": {"#rollout": "rollout"},
                  "ExpressionAttributeValues": attrs({":me": data.rollout_name})}
        with contextlib.suppress(Conflict):  # already released, or another rollout's item
            transact(self.client, [Write({"Delete": delete}, lambda: Conflict("released"))])

    def delete(self, mesh: str, name: str) -> RolloutData:
        from meshplane.model.rollout.state import ACTIVE

        current = self._require(mesh, name)
        data = data_of_item(current)
        if data.status.phase in ACTIVE:
            raise ResourceInUse(f"{describe_rollout(mesh, name)} is {data.status.phase}: abort it first")
        version = data.metadata.version
        delete = {"TableName": self.table, "Key": attrs({"pk": current["pk"], "sk": current["sk"]}),
                  "ConditionExpression": "version = :expected",
                  "ExpressionAttributeValues": {":expected": attr(version)}}
        transact(self.client, [Write({"Delete": delete}, lambda: self._lost_race(mesh, name, version))])
        self.release(data)
        return data

    # --- write helpers ---------------------------------------------------------------------

    def _route_exists(self, route: ResourceKey) -> Write:
        from meshplane.store.resources import describe_key

        check = {"TableName": self.table, "Key": attrs(schema.item_key(route)),
                 "ConditionExpression": "attribute_exists(pk)"}
        return Write({"ConditionCheck": check}, lambda: NotFound(f"spec.route: {describe_key(route)} does not exist"))

    def _claim(self, data: RolloutData) -> Write:
        """The route's active item for this rollout; Conflict naming the other rollout that holds it."""
        mesh, name = data.mesh_name, data.rollout_name
        keys = {"pk": ACTIVE_PK, "sk": active_sk(mesh, data.spec.route.key(mesh))}
        entry = {"Put": {"TableName": self.table, "Item": attrs({**keys, "rollout": name, "mesh": mesh}),
                         "ConditionExpression": "attribute_not_exists(pk) OR #rollout = :me",
                         "ExpressionAttributeNames": {"#rollout": "rollout"},
                         "ExpressionAttributeValues": attrs({":me": name})}}
        return Write(entry, lambda: self._route_taken(data))

    def _route_taken(self, data: RolloutData) -> MeshplaneError:
        from meshplane.store.resources import describe_key

        route = data.spec.route.key(data.mesh_name)
        holder = self.resources._get(ACTIVE_PK, active_sk(data.mesh_name, route)) or {}
        return Conflict(f"spec.route: rollout {holder.get('rollout', '?')!r} is already rolling out "
                        f"{describe_key(route)}")

    def _lost_race(self, mesh: str, name: str, version: int) -> MeshplaneError:
        if self.get_item(mesh, name) is None:
            return NotFound(f"{describe_rollout(mesh, name)} does not exist")
        return Conflict(f"{describe_rollout(mesh, name)} was changed after version {version} was read; retry")

    def _require(self, mesh: str, name: str) -> dict[str, Any]:
        item = self.get_item(mesh, name)
        if item is None:
            raise NotFound(f"{describe_rollout(mesh, name)} does not exist")
        return item
