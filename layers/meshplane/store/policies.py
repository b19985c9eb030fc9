"""meshplane Policy resources in the App Mesh table, with the same guarantees as the App Mesh kinds.

Items, in the mesh's partition `MESH#<mesh>`:

| sk | item |
|---|---|
| `policy#<name>` | a policy: `extension` = `policy`, `mesh`, `name`, a resource's metadata, `spec`, `tags`, `tokens` |
| `POLICYON#<resource sk>` | the claims on one resource: `claims` (section -> policy), `revision` |

Policy items carry no `kind`, so every App Mesh reader (`schema.key_of_item`) passes them by.
The claim item of a resource exists exactly while a policy targets it or names it (a mirror's
shadow node): a second policy giving the same section to a target is a Conflict, and deleting
the resource (its ConditionCheck in `ResourceStore.delete`) is ResourceInUse.  A named resource
is claimed once per policy (`REFERENCE` + its name -> its name), so any number of policies may
name it.  The mesh counts its policies (`COUNT#MESH`, `policy`) for the quota and so that a mesh
with policies cannot be deleted.  Every write is one transaction conditioned on what it read, as
for the App Mesh kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from meshplane.model.ids import Kind, ResourceKey
from meshplane.model.policy.keys import PolicyKey
from meshplane.store import extension, schema
from meshplane.store.errors import Conflict, LimitExceeded, MeshplaneError, NotFound, TooManyTags
from meshplane.store.transact import Write, attr, attrs, transact

if TYPE_CHECKING:
    from meshplane.model.policy.spec import PolicyData, PolicySpec
    from meshplane.store.resources import ResourceStore

SERVICE = extension.SERVICE  # the ARN service and the IAM action namespace of the extension API
EXTENSION = "policy"
POLICY_PREFIX = "policy#"
CLAIM_PREFIX = "POLICYON#"
REFERENCE = "names/"  # the claim of a resource a section names (not a target): `names/<policy>` -> policy
COUNT_ATTRIBUTE = "policy"  # on COUNT#MESH, beside the App Mesh kinds' counts
MAX_TOKENS = extension.MAX_TOKENS


def policy_arn(key: PolicyKey, region: str, account: str, partition: str) -> str:
    """`arn:<partition>:meshplane:<region>:<account>:mesh/<mesh>/policy/<name>`."""
    return f"arn:{partition}:{SERVICE}:{region}:{account}:{key.path}"


def describe_policy(key: PolicyKey) -> str:
    return f"policy {key.name!r} in mesh {key.mesh!r}"


def is_policy_item(item: Mapping[str, Any]) -> bool:
    return item.get("extension") == EXTENSION and str(item.get("sk", "")).startswith(POLICY_PREFIX)


def policy_key_of_item(item: Mapping[str, Any]) -> PolicyKey | None:
    """The policy a (deserialized) item holds, or None for any other item."""
    return PolicyKey(str(item["mesh"]), str(item["name"])) if is_policy_item(item) else None


def claim_sk(target: ResourceKey) -> str:
    return CLAIM_PREFIX + schema.resource_sk(target)


def data_of_item(item: Mapping[str, Any]) -> PolicyData:
    """The describe shape of a policy item."""
    from meshplane.model.policy.spec import PolicyData, PolicySpec, PolicyStatus

    return PolicyData(
        mesh_name=item["mesh"],
        policy_name=item["name"],
        spec=PolicySpec.model_validate_json(item["spec"]),
        metadata=extension.metadata_of(item),
        status=PolicyStatus(status=item.get("status", "ACTIVE")),
    )


def claims_of(spec: PolicySpec, mesh: str, policy: str) -> dict[ResourceKey, set[str]]:
    """The sections (wire names) `spec` of `policy` gives to each of its targets, and the claim of
    each resource its sections name, so that neither can be deleted while the policy holds it."""
    sections = set(spec.sections())
    claims = {target: set(sections) for target in spec.target_keys(mesh)}
    for _, named in spec.references(mesh):
        claims.setdefault(named, set()).add(REFERENCE + policy)
    return claims


class PolicyStore:
    """Policies of one account and region, beside the App Mesh resources of `resources`."""

    def __init__(self, resources: ResourceStore) -> None:
        self.resources = resources
        self.table, self.client = resources.table, resources.client

    # --- reads -----------------------------------------------------------------------------

    def get_item(self, key: PolicyKey) -> dict[str, Any] | None:
        return self.resources._get(schema.mesh_pk(key.mesh), POLICY_PREFIX + key.name)

    def describe(self, key: PolicyKey) -> PolicyData:
        return data_of_item(self._require(key))

    def tags(self, key: PolicyKey) -> dict[str, str]:
        return schema.tags_of_item(self._require(key))

    def list_page(self, mesh: str, limit: int, after: str | None) -> tuple[list[PolicyData], str | None]:
        """Up to `limit` policies in name order after `after`, and the next start or None."""
        self.resources._require(ResourceKey(Kind.MESH, mesh, mesh))
        start = POLICY_PREFIX + after if after is not None else None
        items, more = self.resources._query_page(schema.mesh_pk(mesh), POLICY_PREFIX, limit, start)
        return [data_of_item(i) for i in items], (items[-1]["name"] if more else None)

    def claims(self, mesh: str) -> dict[str, dict[str, Any]]:
        """Every claim item of the mesh, by sort key."""
        return {i["sk"]: i for i in self.resources._query_all(schema.mesh_pk(mesh), CLAIM_PREFIX)}

    def holders(self, target: ResourceKey) -> list[str]:
        """The policies that target `target` or name it, by name."""
        item = self.resources._get(schema.mesh_pk(target.mesh), claim_sk(target))
        return sorted(set((item or {}).get("claims", {}).values()))

    # --- writes ----------------------------------------------------------------------------

    def create(self, key: PolicyKey, spec: PolicySpec, *, tags: Mapping[str, str] | None = None,
               token: str | None = None, request_hash: str = "") -> PolicyData:
        existing = self.get_item(key)
        if existing is not None:
            replay = _replay(existing, token, request_hash)
            if replay is not None:
                return replay
            raise Conflict(f"{describe_policy(key)} already exists")
        tags = dict(tags or {})
        if len(tags) > self.resources.limits.tags_per_resource:
            raise TooManyTags(f"tags: a resource holds at most {self.resources.limits.tags_per_resource} tags")
        item = {
            "pk": schema.mesh_pk(key.mesh), "sk": POLICY_PREFIX + key.name, "extension": EXTENSION,
            "mesh": key.mesh, "name": key.name, **extension.new_metadata(self.resources, key.path, token, request_hash),
            "status": "ACTIVE", "spec": schema.spec_json(spec), "tags": tags,
        }
        put = {"Put": {"TableName": self.table, "Item": attrs(item), "ConditionExpression": "attribute_not_exists(pk)"}}
        writes = [Write(put, lambda: Conflict(f"{describe_policy(key)} already exists")), self._count(key, +1)]
        writes += self._claim_writes(key, {}, claims_of(spec, key.mesh, key.name), spec)
        transact(self.client, writes)
        return data_of_item(item)

    def update(self, key: PolicyKey, spec: PolicySpec, *, token: str | None = None,
               request_hash: str = "") -> PolicyData:
        from meshplane.model.policy.spec import PolicySpec as Spec

        current = self._require(key)
        replay = _replay(current, token, request_hash)
        if replay is not None:
            return replay
        old = claims_of(Spec.model_validate_json(current["spec"]), key.mesh, key.name)
        version = int(current["version"])
        tokens = list(current.get("tokens") or [])
        if token:
            tokens = [*tokens, f"{token}|{request_hash}"][-MAX_TOKENS:]
        changes = {"version": version + 1, "lastUpdatedAt": schema.epoch(self.resources._clock()),
                   "spec": schema.spec_json(spec), "tokens": tokens}
        update = {
            "TableName": self.table, "Key": attrs({"pk": current["pk"], "sk": current["sk"]}),
            "UpdateExpression": "SET " + ", ".join(f"#{n} = :{n}" for n in changes),
            "ConditionExpression": "#version = :expected",
            "ExpressionAttributeNames": {f"#{n}": n for n in changes},
            "ExpressionAttributeValues": {**{f":{n}": attr(v) for n, v in changes.items()}, ":expected": attr(version)},
        }
        writes = [Write({"Update": update}, lambda: self._lost_race(key, version))]
        writes += self._claim_writes(key, old, claims_of(spec, key.mesh, key.name), spec)
        transact(self.client, writes)
        return data_of_item({**current, **changes})

    def delete(self, key: PolicyKey) -> PolicyData:
        from meshplane.model.policy.spec import PolicySpec as Spec

        current = self._require(key)
        version = int(current["version"])
        old = claims_of(Spec.model_validate_json(current["spec"]), key.mesh, key.name)
        delete = {"TableName": self.table, "Key": attrs({"pk": current["pk"], "sk": current["sk"]}),
                  "ConditionExpression": "version = :expected",
                  "ExpressionAttributeValues": {":expected": attr(version)}}
        writes = [Write({"Delete": delete}, lambda: self._lost_race(key, version)), self._count(key, -1)]
        writes += self._claim_writes(key, old, {}, None)
        transact(self.client, writes)
        return data_of_item({**current, "status": "DELETED"})

    def tag(self, key: PolicyKey, tags: Mapping[str, str]) -> None:
        """Add or overwrite tags (App Mesh's TagResource on the policy's ARN); beyond the quota is TooManyTags."""
        self.resources.change_item_tags(self._require(key), lambda old: {**old, **tags})

    def untag(self, key: PolicyKey, tag_keys: list[str]) -> None:
        self.resources.change_item_tags(self._require(key),
                                        lambda old: {k: v for k, v in old.items() if k not in set(tag_keys)})

    def key_of_arn(self, arn: str) -> PolicyKey:
        """The policy `arn` names; NotFound unless it is a policy ARN of this account, region and partition."""
        resources = self.resources
        try:
            key = PolicyKey.from_arn(arn)
        except ValueError:
            raise NotFound(f"resourceArn: {arn} is not a policy's ARN") from None
        if policy_arn(key, resources.region, resources.account, resources.partition) != arn:
            raise NotFound(f"resourceArn: {arn} is not a resource of this account and region")
        return key

    # --- write helpers ---------------------------------------------------------------------

    def _count(self, key: PolicyKey, delta: int) -> Write:
        """The mesh's policy count: the quota on create, and what keeps a mesh with policies from deletion."""
        limit = self.resources.limits.policies_per_mesh
        update: dict[str, Any] = {
            "TableName": self.table, "Key": attrs({"pk": schema.mesh_pk(key.mesh), "sk": schema.MESH_COUNTER_SK}),
            "UpdateExpression": "ADD #count :delta", "ExpressionAttributeNames": {"#count": COUNT_ATTRIBUTE},
            "ExpressionAttributeValues": attrs({":delta": delta}),
        }
        if delta > 0:
            update["ConditionExpression"] = "attribute_exists(pk) AND (attribute_not_exists(#count) OR #count < :limit)"
            update["ExpressionAttributeValues"][":limit"] = attr(limit)
        return Write({"Update": update}, lambda: self._count_refused(key, limit))

    def _count_refused(self, key: PolicyKey, limit: int) -> MeshplaneError:
        if self.resources._get(schema.mesh_pk(key.mesh), schema.MESH_COUNTER_SK) is None:
            return NotFound(f"mesh {key.mesh!r} does not exist")
        return LimitExceeded(f"mesh {key.mesh!r} already holds the maximum of {limit} policies")

    def _claim_writes(self, key: PolicyKey, old: dict[ResourceKey, set[str]], new: dict[ResourceKey, set[str]],
                      spec: PolicySpec | None) -> list[Write]:
        """Existence checks of the new targets, and each touched target's claims rewritten on the revision read."""
        from meshplane.store.resources import describe_key

        current = self.claims(key.mesh) if old.keys() | new.keys() else {}
        writes: list[Write] = []
        named = [(f"spec.targets[{i}]", t) for i, t in enumerate(spec.target_keys(key.mesh))] if spec else []
        named += [(field, ref) for field, ref in spec.references(key.mesh)] if spec else []
        checked: set[ResourceKey] = set()  # a transaction may touch each item once
        for field, named_key in named:
            if named_key not in checked:
                checked.add(named_key)
                writes.append(self._exists(named_key, field))
        for target in sorted(old.keys() | new.keys()):
            item = current.get(claim_sk(target))
            held: dict[str, str] = dict((item or {}).get("claims", {}))
            for section in sorted(new.get(target, ())):
                owner = held.get(section)
                if owner is not None and owner != key.name:
                    raise Conflict(f"spec.{section}: policy {owner!r} already gives {section} to "
                                   f"{describe_key(target)}")
            wanted = {s: p for s, p in held.items() if p != key.name} | dict.fromkeys(new.get(target, ()), key.name)
            if wanted != held:
                writes.append(self._claim_write(target, item, wanted))
        return writes

    def _exists(self, key: ResourceKey, field: str) -> Write:
        """`key` exists when the write commits; NotFound naming `field` otherwise."""
        from meshplane.store.resources import describe_key

        check = {"TableName": self.table, "Key": attrs(schema.item_key(key)),
                 "ConditionExpression": "attribute_exists(pk)"}
        return Write({"ConditionCheck": check}, lambda: NotFound(f"{field}: {describe_key(key)} does not exist"))

    def _claim_write(self, target: ResourceKey, item: Mapping[str, Any] | None, wanted: dict[str, str]) -> Write:
        from meshplane.store.resources import describe_key

        keys = {"pk": schema.mesh_pk(target.mesh), "sk": claim_sk(target)}
        revision = int(item["revision"]) if item is not None else 0
        guard: dict[str, Any] = ({"ConditionExpression": "attribute_not_exists(pk)"} if item is None else
                                 {"ConditionExpression": "revision = :revision",
                                  "ExpressionAttributeValues": attrs({":revision": revision})})
        if wanted:
            body = {**keys, "claims": wanted, "revision": revision + 1, "target": target.path}
            entry = {"Put": {"TableName": self.table, "Item": attrs(body), **guard}}
        else:
            entry = {"Delete": {"TableName": self.table, "Key": attrs(keys), **guard}}
        return Write(entry, lambda: Conflict(f"the policies of {describe_key(target)} changed concurrently; retry"))

    def _lost_race(self, key: PolicyKey, version: int) -> MeshplaneError:
        if self.get_item(key) is None:
            return NotFound(f"{describe_policy(key)} does not exist")
        return Conflict(f"{describe_policy(key)} was changed after version {version} was read; retry")

    def _require(self, key: PolicyKey) -> dict[str, Any]:
        item = self.get_item(key)
        if item is None:
            raise NotFound(f"{describe_policy(key)} does not exist")
        return item


def _replay(item: Mapping[str, Any], token: str | None, request_hash: str) -> PolicyData | None:
    """The stored result for a repeated client token; Conflict if the token came with another request."""
    return data_of_item(item) if extension.replayed(item, token, request_hash) else None
