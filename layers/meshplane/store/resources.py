"""App Mesh resources in the single DynamoDB table: reads for everyone, writes for the API.

Writes are optimistic: the item is read, the change computed, and one
transaction applies it on condition that nothing it relied on has moved
(the version of the resource, the existence of what it references, the counts
behind quotas and the "in use" rules).  A lost race is a ConflictException,
never a silent overwrite.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from meshplane.config import DEFAULT_ACCOUNT
from meshplane.model import shapes
from meshplane.model.ids import DEFAULT_PARTITION, Kind, ResourceKey
from meshplane.model.state import EXTENSION_TAG_PREFIX, MeshState
from meshplane.store import cloudmap_lookup, reads, schema
from meshplane.store import policies as policy_store
from meshplane.store import rollouts as rollout_store
from meshplane.store.errors import (
    Conflict,
    LimitExceeded,
    MeshplaneError,
    NotFound,
    ResourceInUse,
    TooManyTags,
)
from meshplane.store.item_cache import ParsedItems
from meshplane.store.kinds import KINDS, references
from meshplane.store.limits import Limits
from meshplane.store.transact import Write, attr, attrs, dynamo_errors, transact

MAX_TOKENS = 10  # client tokens remembered per resource
TOP_LEVEL_KINDS = (Kind.VIRTUAL_NODE, Kind.VIRTUAL_SERVICE, Kind.VIRTUAL_ROUTER, Kind.VIRTUAL_GATEWAY)
COUNTED_KINDS = (*TOP_LEVEL_KINDS,)  # kinds that can be referenced or have children
POLICY_TARGET_KINDS = (Kind.VIRTUAL_NODE, Kind.VIRTUAL_GATEWAY, Kind.ROUTE, Kind.GATEWAY_ROUTE)
_STATE_FIELDS = {
    Kind.VIRTUAL_NODE: "virtual_nodes",
    Kind.VIRTUAL_SERVICE: "virtual_services",
    Kind.VIRTUAL_ROUTER: "virtual_routers",
    Kind.ROUTE: "routes",
    Kind.VIRTUAL_GATEWAY: "virtual_gateways",
    Kind.GATEWAY_ROUTE: "gateway_routes",
}


_CHILD_KIND = {Kind.VIRTUAL_ROUTER: Kind.ROUTE, Kind.VIRTUAL_GATEWAY: Kind.GATEWAY_ROUTE}  # what a container lists


def describe_key(key: ResourceKey) -> str:
    """How messages name a resource: `virtualNode 'n' in mesh 'm'`."""
    where = f"mesh {key.mesh!r}"
    if key.parent is not None:
        where = f"{key.kind.parent_kind.value} {key.parent!r} of {where}"  # type: ignore[union-attr]
    if key.kind is Kind.MESH:
        return f"mesh {key.mesh!r}"
    return f"{key.kind.value} {key.name!r} in {where}"


class ResourceStore:
    """The App Mesh resources of one account and region, kept in table `table_name`."""

    def __init__(
        self,
        table_name: str,
        client: Any,
        *,
        region: str = "us-east-1",
        account: str = DEFAULT_ACCOUNT,
        partition: str = DEFAULT_PARTITION,
        limits: Limits | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.table = table_name
        self.client = client
        self.region = region
        self.account = account
        self.partition = partition
        self.limits = limits or Limits()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._parsed = ParsedItems()  # a warm container parses an unchanged item once (`store.item_cache`)

    # --- reads -----------------------------------------------------------------------------

    def get_item(self, key: ResourceKey) -> dict[str, Any] | None:
        """The raw item of `key` (strongly consistent), or None."""
        return self._get(schema.mesh_pk(key.mesh), schema.resource_sk(key))

    def spec(self, key: ResourceKey) -> shapes.AppMeshModel | None:
        """The spec of `key` (strongly consistent), or None when there is no such resource."""
        item = self.get_item(key)
        return None if item is None else schema.spec_of_item(item)

    def specs(self, keys: Sequence[ResourceKey]) -> dict[ResourceKey, shapes.AppMeshModel | None]:
        """`spec` of each of `keys` (strongly consistent), read together in BatchGetItem calls."""
        wanted = {(schema.mesh_pk(key.mesh), schema.resource_sk(key)): key for key in dict.fromkeys(keys)}
        found: dict[ResourceKey, shapes.AppMeshModel | None] = dict.fromkeys(wanted.values())
        with dynamo_errors():
            items = reads.batch_get(self.client, self.table, [attrs({"pk": pk, "sk": sk}) for pk, sk in wanted])
        for raw in items:
            item = _plain(raw)
            found[wanted[(item["pk"], item["sk"])]] = schema.spec_of_item(item)
        return found

    def describe(self, key: ResourceKey) -> shapes.AppMeshModel:
        return schema.data_of_item(self._require(key))

    def list_page(
        self, kind: Kind, mesh: str, parent: str | None, limit: int, start_after: str | None
    ) -> tuple[list[shapes.AppMeshModel], str | None]:
        """Up to `limit` resources of `kind` in name order after `start_after`, and the next start or None."""
        container = ResourceKey(kind.parent_kind, mesh, parent) if kind.parent_kind and parent else None
        self._require(container or ResourceKey(Kind.MESH, mesh, mesh))
        prefix = schema.kind_prefix(kind, parent)
        items, more = self._query_page(schema.mesh_pk(mesh), prefix, limit, start_after and prefix + start_after)
        page = [schema.data_of_item(i) for i in items]
        return page, (items[-1]["name"] if more else None)

    def mesh_page(self, limit: int, start_after: str | None) -> tuple[list[shapes.AppMeshModel], str | None]:
        """Up to `limit` meshes in name order after `start_after`, and the next start or None."""
        entries, more = self._query_page(schema.MESH_LIST_PK, "", limit, start_after)
        names = [e["sk"] for e in entries]
        found = {i["mesh"]: i for i in self._batch_get([(schema.mesh_pk(n), schema.MESH_SK) for n in names])}
        page = [schema.data_of_item(found[n]) for n in names if n in found]
        return page, (names[-1] if more else None)

    def list_mesh_names(self) -> list[str]:
        """Every mesh of the account, in name order."""
        return [item["sk"] for item in self._query_all(schema.MESH_LIST_PK, "")]

    def load_mesh_state(self, mesh_name: str) -> MeshState:
        """All resources of one mesh from consistent reads, without endpoints; NotFound if no such mesh."""
        return self._state_of(mesh_name, self._query_all(schema.mesh_pk(mesh_name), "", consistent=True))

    def load_dependencies(self, mesh_name: str, paths: Iterable[str]) -> MeshState:
        """The part of a mesh that resources named by dependency `paths` make up, from consistent reads;
        NotFound if no such mesh.

        Each named resource is read by its key (BatchGetItem): one that is absent is absent from
        the mesh too.  A place a proxy enumerates is read whole, so what it lists is complete at
        the time of the read: every route of each named router, every gateway route of each named
        gateway, and every policy of the mesh (which ones apply is found by scanning them all).
        The counters read in the same batch say when that needs no Query: a router whose routes
        named here are all it counts, a mesh that counts no policy.  A resolve over the result
        equals one over the whole mesh as long as it asks for no resource outside `paths`
        (`pipeline.recompute` checks that before it publishes)."""
        keys = {ResourceKey(Kind.MESH, mesh_name, mesh_name)}
        for path in paths:
            try:
                key = ResourceKey.from_path(path)
            except ValueError:  # a policy's path: the policies are read whole below
                continue
            if key.mesh == mesh_name:
                keys.add(key)
        pk = schema.mesh_pk(mesh_name)
        containers = {k: _CHILD_KIND[k.kind] for k in keys if k.kind in _CHILD_KIND}
        wanted = {schema.resource_sk(k) for k in keys} | {schema.counter_sk(k) for k in containers}
        found = self._batch_get(sorted((pk, sk) for sk in wanted | {schema.MESH_COUNTER_SK}))
        counters = {item["sk"]: item for item in found if item["sk"].startswith(schema.COUNTER_PREFIX)}
        items = [item for item in found if item["sk"] not in counters]
        prefixes = [] if not counters.get(schema.MESH_COUNTER_SK, {}).get(policy_store.COUNT_ATTRIBUTE) else [
            policy_store.POLICY_PREFIX]
        children = Counter((item.get("kind"), item["parent"]) for item in items if "parent" in item)
        for container, child in sorted(containers.items()):
            prefix = schema.kind_prefix(child, container.name)
            listed = children[(child.value, container.name)]
            if listed != int(counters.get(schema.counter_sk(container), {}).get("children", 0)):
                prefixes.append(prefix)  # a child not named here, or one named here that is gone
        for prefix in prefixes:
            items += self._query_all(pk, prefix, consistent=True)
        return self._state_of(mesh_name, items)

    def _state_of(self, mesh_name: str, items: Iterable[Mapping[str, Any]]) -> MeshState:
        """The `MeshState` the resource and policy `items` of one mesh make; NotFound without its mesh item."""
        found: dict[str, dict[Any, Any]] = {field: {} for field in _STATE_FIELDS.values()}
        extension_tags: dict[ResourceKey, dict[str, str]] = {}
        policies: dict[str, Any] = {}
        mesh_data = None
        for item in items:
            key = schema.key_of_item(item)
            if key is None:
                if policy_store.is_policy_item(item):
                    policies[item["name"]] = policy_store.data_of_item(item)
                continue
            data = self._parsed.data(item)
            chosen = {k: v for k, v in schema.tags_of_item(item).items() if k.startswith(EXTENSION_TAG_PREFIX)}
            if chosen:
                extension_tags[key] = chosen
            if key.kind is Kind.MESH:
                mesh_data = data
            else:
                found[_STATE_FIELDS[key.kind]][(key.parent, key.name) if key.parent else key.name] = data
        if mesh_data is None:
            raise NotFound(f"mesh {mesh_name!r} does not exist")
        return MeshState(mesh=mesh_data, tags=extension_tags, policies=policies, **found)  # type: ignore[arg-type]

    def tags(self, key: ResourceKey) -> dict[str, str]:
        return schema.tags_of_item(self._require(key))

    # --- writes ----------------------------------------------------------------------------

    def create(
        self,
        key: ResourceKey,
        spec: shapes.AppMeshModel,
        *,
        tags: Mapping[str, str] | None = None,
        token: str | None = None,
        request_hash: str = "",
    ) -> shapes.AppMeshModel:
        """Create `key` at version 1; a repeated client token returns the first result."""
        existing = self.get_item(key)
        if existing is not None:
            replay = self._replay(existing, token, request_hash)
            if replay is not None:
                return replay
            raise Conflict(f"{describe_key(key)} already exists")
        tags = dict(tags or {})
        if len(tags) > self.limits.tags_per_resource:
            raise TooManyTags(f"a resource holds at most {self.limits.tags_per_resource} tags")
        now = schema.epoch(self._clock())
        item = {
            **schema.item_key(key),
            "kind": key.kind.value,
            "mesh": key.mesh,
            "name": key.name,
            **({"parent": key.parent} if key.parent else {}),
            "arn": key.arn(self.region, self.account, partition=self.partition),
            "uid": str(uuid.uuid4()),
            "version": 1,
            "createdAt": now,
            "lastUpdatedAt": now,
            "meshOwner": self.account,
            "resourceOwner": self.account,
            "status": "ACTIVE",
            "spec": schema.spec_json(spec),
            "tags": tags,
            "tokens": [_token_entry(token, request_hash)] if token else [],
        }
        writes = [
            Write(
                {"Put": {**self._at(), "Item": attrs(item), "ConditionExpression": "attribute_not_exists(pk)"}},
                lambda: self._after_create_race(key, token, request_hash),
            ),
            *self._container_writes(key, +1),
        ]
        if key.kind in COUNTED_KINDS or key.kind is Kind.MESH:
            counter = {"pk": schema.mesh_pk(key.mesh), "sk": schema.counter_sk(key)}
            writes.append(Write({"Put": {**self._at(), "Item": attrs(counter)}}))
        writes += [self._reference_write(ref, +1) for ref in sorted(references(key, spec))]
        writes += self._lookup_writes(key, None, spec)
        transact(self.client, writes)
        return schema.data_of_item(item)

    def update(
        self, key: ResourceKey, spec: shapes.AppMeshModel, *, token: str | None = None, request_hash: str = ""
    ) -> shapes.AppMeshModel:
        """Replace the spec of `key`, adding 1 to its version, unless someone else changed it first."""
        current = self._require(key)
        replay = self._replay(current, token, request_hash)
        if replay is not None:
            return replay
        old_spec = KINDS[key.kind].spec.model_validate_json(current["spec"])
        old_refs, new_refs = references(key, old_spec), references(key, spec)
        version = int(current["version"])
        tokens = list(current.get("tokens") or [])
        if token:
            tokens = [*tokens, _token_entry(token, request_hash)][-MAX_TOKENS:]
        changes = {
            "version": version + 1,
            "lastUpdatedAt": schema.epoch(self._clock()),
            "spec": schema.spec_json(spec),
            "tokens": tokens,
        }
        update = {
            **self._at(),
            "Key": attrs(schema.item_key(key)),
            "UpdateExpression": "SET " + ", ".join(f"#{n} = :{n}" for n in changes),
            "ConditionExpression": "#version = :expected",
            "ExpressionAttributeNames": {f"#{n}": n for n in changes},
            "ExpressionAttributeValues": {**{f":{n}": attr(v) for n, v in changes.items()}, ":expected": attr(version)},
        }
        writes = [
            Write({"Update": update}, lambda: self._lost_race(key, version)),
            *(self._reference_write(ref, +1) for ref in sorted(new_refs - old_refs)),
            *(self._reference_write(ref, -1) for ref in sorted(old_refs - new_refs)),
            *self._lookup_writes(key, old_spec, spec),
        ]
        transact(self.client, writes)
        return schema.data_of_item({**current, **changes})

    def delete(self, key: ResourceKey) -> shapes.AppMeshModel:
        """Delete `key` unless something still names it or lives in it; returns it with status DELETED."""
        current = self._require(key)
        version = int(current["version"])
        spec = KINDS[key.kind].spec.model_validate_json(current["spec"])
        writes = [
            Write(
                {
                    "Delete": {
                        **self._at(),
                        "Key": attrs(schema.item_key(key)),
                        "ConditionExpression": "version = :expected",
                        "ExpressionAttributeValues": {":expected": attr(version)},
                    }
                },
                lambda: self._lost_race(key, version),
            ),
            *self._container_writes(key, -1),
        ]
        if key.kind in COUNTED_KINDS or key.kind is Kind.MESH:
            writes.append(self._unused_counter_delete(key))
        if key.kind in POLICY_TARGET_KINDS:
            writes.append(self._untargeted(key))
        if key.kind is Kind.ROUTE:
            writes.append(rollout_store.unrolled(self.table, key))
        writes += [self._reference_write(ref, -1) for ref in sorted(references(key, spec))]
        writes += self._lookup_writes(key, spec, None)
        transact(self.client, writes)
        return schema.data_of_item({**current, "status": "DELETED"})

    def tag(self, key: ResourceKey, tags: Mapping[str, str]) -> None:
        """Add or overwrite tags; more than the quota in total is TooManyTags."""
        self._change_tags(key, lambda old: {**old, **tags})

    def untag(self, key: ResourceKey, tag_keys: list[str]) -> None:
        self._change_tags(key, lambda old: {k: v for k, v in old.items() if k not in set(tag_keys)})

    # --- write helpers ---------------------------------------------------------------------

    def _change_tags(self, key: ResourceKey, change: Callable[[dict[str, str]], dict[str, str]]) -> None:
        self.change_item_tags(self._require(key), change)

    def change_item_tags(self, current: Mapping[str, Any], change: Callable[[dict[str, str]], dict[str, str]]) -> None:
        """Read-modify-write of an item's tag map (a resource's or a policy's), guarded by its own revision so
        tags never touch `version`."""
        tags = change(schema.tags_of_item(current))
        if len(tags) > self.limits.tags_per_resource:
            raise TooManyTags(f"a resource holds at most {self.limits.tags_per_resource} tags")
        revision = int(current.get("tagRevision", 0))
        update = {
            **self._at(),
            "Key": attrs({"pk": current["pk"], "sk": current["sk"]}),
            "UpdateExpression": "SET tags = :tags, tagRevision = :next",
            "ConditionExpression": "attribute_exists(pk) AND "
            "(attribute_not_exists(tagRevision) OR tagRevision = :revision)",
            "ExpressionAttributeValues": attrs({":tags": tags, ":next": revision + 1, ":revision": revision}),
        }
        transact(self.client, [Write({"Update": update}, lambda: Conflict("the tags changed concurrently; retry"))])

    def _container_writes(self, key: ResourceKey, delta: int) -> list[Write]:
        """Count `key` in its container (account, mesh or parent), refusing to exceed the quota."""
        limit = self.limits.for_kind(key.kind)
        if key.kind is Kind.MESH:
            pk, sk, count = schema.ACCOUNT_PK, schema.ACCOUNT_COUNTER_SK, "meshes"
            container: ResourceKey | None = None
        elif key.kind.parent_kind is not None:
            container = ResourceKey(key.kind.parent_kind, key.mesh, key.parent or "")
            pk, sk, count = schema.mesh_pk(key.mesh), schema.counter_sk(container), "children"
        else:
            container = ResourceKey(Kind.MESH, key.mesh, key.mesh)
            pk, sk, count = schema.mesh_pk(key.mesh), schema.MESH_COUNTER_SK, key.kind.value
        update: dict[str, Any] = {
            **self._at(),
            "Key": attrs({"pk": pk, "sk": sk}),
            "UpdateExpression": "ADD #count :delta",
            "ExpressionAttributeNames": {"#count": count},
            "ExpressionAttributeValues": attrs({":delta": delta}),
        }
        if delta > 0:
            exists = "attribute_exists(pk) AND " if container is not None else ""
            update["ConditionExpression"] = f"{exists}(attribute_not_exists(#count) OR #count < :limit)"
            update["ExpressionAttributeValues"][":limit"] = attr(limit)
        writes = [Write({"Update": update}, lambda: self._container_refused(key, container, pk, sk, limit))]
        if key.kind is Kind.MESH:
            entry = {"pk": schema.MESH_LIST_PK, "sk": key.mesh}
            listed = {**entry, cloudmap_lookup.MARK: True}  # a new mesh's nodes all get their lookup items
            writes.append(
                Write({"Put": {**self._at(), "Item": attrs(listed)}} if delta > 0 else
                      {"Delete": {**self._at(), "Key": attrs(entry)}})
            )
        return writes

    def _lookup_writes(self, key: ResourceKey, old: shapes.AppMeshModel | None,
                       new: shapes.AppMeshModel | None) -> list[Write]:
        """A virtual node's Cloud Map lookup item moved with it (`store.cloudmap_lookup`)."""
        if key.kind is not Kind.VIRTUAL_NODE:
            return []
        entries = cloudmap_lookup.writes(self.table, key.mesh, key.name, old, new)
        return [Write(entry) for entry in entries]

    def _container_refused(
        self, key: ResourceKey, container: ResourceKey | None, pk: str, sk: str, limit: int
    ) -> MeshplaneError:
        if container is not None and self._get(pk, sk) is None:
            return NotFound(f"{describe_key(container)} does not exist")
        where = "the account" if container is None else describe_key(container)
        return LimitExceeded(f"{where} already holds the maximum of {limit} {key.kind.value} resources")

    def _reference_write(self, ref: ResourceKey, delta: int) -> Write:
        update: dict[str, Any] = {
            **self._at(),
            "Key": attrs({"pk": schema.mesh_pk(ref.mesh), "sk": schema.counter_sk(ref)}),
            "UpdateExpression": "ADD refs :delta",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": attrs({":delta": delta}),
        }
        return Write({"Update": update}, lambda: NotFound(f"{describe_key(ref)} does not exist"))

    def _untargeted(self, key: ResourceKey) -> Write:
        """No policy may target a resource being deleted (its claim item exists exactly while one does)."""
        check = {**self._at(), "Key": attrs({"pk": schema.mesh_pk(key.mesh), "sk": policy_store.claim_sk(key)}),
                 "ConditionExpression": "attribute_not_exists(pk)"}

        def refused() -> MeshplaneError:
            held = policy_store.PolicyStore(self).holders(key)
            named = ", ".join(repr(name) for name in held) or "a policy"
            return ResourceInUse(f"{describe_key(key)} is in use: policy {named} targets it")

        return Write({"ConditionCheck": check}, refused)

    def _unused_counter_delete(self, key: ResourceKey) -> Write:
        names = ["refs", "children"] if key.kind is not Kind.MESH else [*(k.value for k in TOP_LEVEL_KINDS),
                                                                         policy_store.COUNT_ATTRIBUTE]
        condition = " AND ".join(f"(attribute_not_exists(#c{i}) OR #c{i} = :zero)" for i in range(len(names)))
        delete = {
            **self._at(),
            "Key": attrs({"pk": schema.mesh_pk(key.mesh), "sk": schema.counter_sk(key)}),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {f"#c{i}": n for i, n in enumerate(names)},
            "ExpressionAttributeValues": attrs({":zero": 0}),
        }
        return Write({"Delete": delete}, lambda: self._in_use(key))

    def _in_use(self, key: ResourceKey) -> MeshplaneError:
        counts = self._get(schema.mesh_pk(key.mesh), schema.counter_sk(key)) or {}
        if key.kind is Kind.MESH:
            held = ", ".join(f"{int(counts[k])} {k}" for k in (*(k.value for k in TOP_LEVEL_KINDS),
                             policy_store.COUNT_ATTRIBUTE) if counts.get(k))
            return ResourceInUse(f"mesh {key.mesh!r} is not empty: it still holds {held or 'resources'}")
        reasons = []
        if counts.get("refs"):
            reasons.append(f"{int(counts['refs'])} resource(s) name it")
        if counts.get("children"):
            child = {Kind.VIRTUAL_ROUTER: "route", Kind.VIRTUAL_GATEWAY: "gateway route"}.get(key.kind, "child")
            reasons.append(f"it still has {int(counts['children'])} {child}(s)")
        return ResourceInUse(f"{describe_key(key)} is in use: {' and '.join(reasons) or 'it is referenced'}")

    def _replay(self, item: Mapping[str, Any], token: str | None, request_hash: str) -> shapes.AppMeshModel | None:
        """The stored result for a repeated client token; Conflict if the token came with another request."""
        if not token:
            return None
        for entry in item.get("tokens") or ():
            seen_token, _, seen_hash = entry.rpartition("|")
            if seen_token == token:
                if seen_hash != request_hash:
                    raise Conflict("the client token was already used with a different request")
                return schema.data_of_item(item)
        return None

    def _after_create_race(self, key: ResourceKey, token: str | None, request_hash: str) -> MeshplaneError:
        """Another create of the same name won: a replay of the same request is not an error, but we say Conflict."""
        winner = self.get_item(key)
        if winner is not None and token and _token_entry(token, request_hash) in (winner.get("tokens") or ()):
            return Conflict(f"{describe_key(key)} is being created by an identical request; describe it")
        return Conflict(f"{describe_key(key)} already exists")

    def _lost_race(self, key: ResourceKey, version: int) -> MeshplaneError:
        if self.get_item(key) is None:
            return NotFound(f"{describe_key(key)} does not exist")
        return Conflict(f"{describe_key(key)} was changed after version {version} was read; retry")

    # --- low-level reads -------------------------------------------------------------------

    def _at(self) -> dict[str, str]:
        return {"TableName": self.table}

    def _require(self, key: ResourceKey) -> dict[str, Any]:
        item = self.get_item(key)
        if item is None:
            raise NotFound(f"{describe_key(key)} does not exist")
        return item

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        with dynamo_errors():
            response = self.client.get_item(**self._at(), Key=attrs({"pk": pk, "sk": sk}), ConsistentRead=True)
        item = response.get("Item")
        return _plain(item) if item else None

    def _query_page(
        self, pk: str, prefix: str, limit: int, start_sk: str | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of at most `limit` items, and whether more follow (one extra item is read to know)."""
        request = self._query_request(pk, prefix, consistent=True)
        request["Limit"] = limit + 1
        if start_sk is not None:
            request["ExclusiveStartKey"] = attrs({"pk": pk, "sk": start_sk})
        with dynamo_errors():
            items = [_plain(i) for i in self.client.query(**request).get("Items", [])]
        return items[:limit], len(items) > limit

    def _query_all(self, pk: str, prefix: str, *, consistent: bool = True) -> list[dict[str, Any]]:
        request = self._query_request(pk, prefix, consistent=consistent)
        with dynamo_errors():
            return [_plain(item) for item in reads.query_items(self.client, **request)]

    def _query_request(self, pk: str, prefix: str, *, consistent: bool) -> dict[str, Any]:
        condition = "pk = :pk" + (" AND begins_with(sk, :prefix)" if prefix else "")
        values = {":pk": pk, **({":prefix": prefix} if prefix else {})}
        return {
            **self._at(),
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": attrs(values),
            "ConsistentRead": consistent,
        }

    def _batch_get(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        with dynamo_errors():
            raw = reads.batch_get(self.client, self.table, [attrs({"pk": pk, "sk": sk}) for pk, sk in keys])
        return [_plain(item) for item in raw]


def _token_entry(token: str, request_hash: str) -> str:
    return f"{token}|{request_hash}"


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in item.items()}
