"""The single-table layout of App Mesh resources, and the table itself.

Partition `MESH#<mesh>` holds one mesh and everything in it:

| sk | item |
|---|---|
| `MESH` | the mesh |
| `virtualNode#<n>`, `virtualService#<n>`, `virtualRouter#<n>`, `virtualGateway#<n>` | a resource |
| `route#<router>#<n>`, `gatewayRoute#<gateway>#<n>` | a route or gateway route |
| `COUNT#MESH` | how many of each top-level kind the mesh holds (quotas, "mesh must be empty") |
| `COUNT#<kind>#<n>` | `refs` (resources naming it) and `children` (its routes) of one resource |
| `policy#<n>`, `POLICYON#<resource sk>` | a meshplane Policy and the claims on one of its targets (`store.policies`) |

A resource item carries `kind`, `mesh`, `name`, `parent` (routes only), the
metadata (`arn`, `uid`, `version`, `createdAt`, `lastUpdatedAt` as epoch
seconds, `meshOwner`, `resourceOwner`, `status`), `spec` (the camelCase JSON
of the spec), `tags` (a map) and `tokens` (recent client tokens).  Counters
live beside, not on, the resources, so a new reference never rewrites the
resource it names and the stream shows only real resource changes.

Partition `MESHES` lists mesh names (sk = name) for `ListMeshes`; `ACCOUNT` /
`COUNT` counts meshes for the account quota.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from meshplane.model import shapes
from meshplane.model.ids import Kind, ResourceKey
from meshplane.store.kinds import KINDS

MESH_SK = "MESH"
MESH_COUNTER_SK = "COUNT#MESH"
MESH_LIST_PK = "MESHES"
ACCOUNT_PK = "ACCOUNT"
ACCOUNT_COUNTER_SK = "COUNT"
COUNTER_PREFIX = "COUNT#"


@cache
def deserializer() -> Any:
    """boto3's TypeDeserializer, imported on first use: `boto3.dynamodb` loads all of boto3 (~150 ms of cold start)."""
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


def mesh_pk(mesh: str) -> str:
    return f"MESH#{mesh}"


def resource_sk(key: ResourceKey) -> str:
    if key.kind is Kind.MESH:
        return MESH_SK
    return kind_prefix(key.kind, key.parent) + key.name


def kind_prefix(kind: Kind, parent: str | None = None) -> str:
    """The sort-key prefix shared by every resource of `kind` (under `parent`)."""
    if kind.parent_kind is not None:
        return f"{kind.value}#{parent}#"
    return f"{kind.value}#"


def counter_sk(key: ResourceKey) -> str:
    """Where the reference and child counts of `key` live."""
    if key.kind is Kind.MESH:
        return MESH_COUNTER_SK
    return COUNTER_PREFIX + resource_sk(key)


def item_key(key: ResourceKey) -> dict[str, str]:
    return {"pk": mesh_pk(key.mesh), "sk": resource_sk(key)}


def epoch(moment: datetime) -> Decimal:
    """Epoch seconds with millisecond precision, as DynamoDB stores numbers."""
    return Decimal(int(moment.timestamp() * 1000)) / 1000


def key_of_item(item: Mapping[str, Any]) -> ResourceKey | None:
    """The resource an item holds, or None for counters and list entries."""
    if not str(item.get("pk", "")).startswith("MESH#") or "kind" not in item:
        return None
    return ResourceKey(Kind(item["kind"]), item["mesh"], item["name"], item.get("parent"))


def data_of_item(item: Mapping[str, Any]) -> shapes.AppMeshModel:
    """The `Describe*` shape (e.g. VirtualNodeData) of a resource item."""
    key = _resource_key(item)
    info = KINDS[key.kind]
    values: dict[str, Any] = {
        "meshName": key.mesh,
        info.name_field: key.name,
        "metadata": shapes.ResourceMetadata(
            arn=item["arn"],
            uid=item["uid"],
            version=int(item["version"]),
            created_at=_moment(item["createdAt"]),
            last_updated_at=_moment(item["lastUpdatedAt"]),
            mesh_owner=item["meshOwner"],
            resource_owner=item["resourceOwner"],
        ),
        "spec": info.spec.model_validate_json(item["spec"]),
        "status": info.status.model_validate({"status": item["status"]}),
    }
    if info.parent_field:
        values[info.parent_field] = key.parent
    return info.data.model_validate(values)


def spec_of_item(item: Mapping[str, Any]) -> shapes.AppMeshModel:
    """The spec shape (e.g. VirtualNodeSpec) of a resource item."""
    return KINDS[_resource_key(item).kind].spec.model_validate_json(item["spec"])


def _resource_key(item: Mapping[str, Any]) -> ResourceKey:
    key = key_of_item(item)
    if key is None:
        raise ValueError(f"not a resource item: {item.get('pk')!r}/{item.get('sk')!r}")
    return key


def tags_of_item(item: Mapping[str, Any]) -> dict[str, str]:
    return dict(item.get("tags") or {})


def spec_json(spec: shapes.AppMeshModel) -> str:
    """The stored form of a spec: compact camelCase JSON with sorted keys."""
    return json.dumps(spec.wire(), sort_keys=True, separators=(",", ":"))


def decode_image(image: Mapping[str, Any] | None) -> tuple[ResourceKey, shapes.AppMeshModel] | None:
    """Decode a DynamoDB stream image (typed JSON, `{"S": ...}`) of this table.

    Returns `(key, data)` where data is the `Describe*` shape of the resource,
    or None when the image is absent (the other half of an INSERT/REMOVE) or
    holds a counter or list entry rather than an App Mesh resource.
    """
    if not image:
        return None
    item = {name: deserializer().deserialize(value) for name, value in image.items()}
    key = key_of_item(item)
    if key is None:
        return None
    return key, data_of_item(item)


def decode_stream_record(record: Mapping[str, Any]) -> tuple[ResourceKey, shapes.AppMeshModel | None] | None:
    """One DynamoDB stream record as `(key, data after the change or None if deleted)`.

    Returns None for records about counters and list entries, which the
    pipeline ignores.
    """
    change = record.get("dynamodb", {})
    new = decode_image(change.get("NewImage"))
    if new is not None:
        return new
    old = decode_image(change.get("OldImage"))
    if old is None:
        return None
    return old[0], None


def create_table(client: Any, name: str) -> None:
    """Create the state table (keys, stream NEW_AND_OLD_IMAGES, TTL on `expiresAt`) and wait for it."""
    client.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
    )


def _moment(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value), tz=UTC)
