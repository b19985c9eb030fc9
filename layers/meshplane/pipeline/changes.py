"""What a DynamoDB stream batch changed: App Mesh resources, policies and node endpoints, per mesh.

Items of the pipeline's own partitions (pointers, index, idempotency records,
Cloud Map revisions) and the resource store's counters are not changes to the
mesh and are skipped.  A resource item whose key cannot be decoded marks its
whole mesh for a full recompute: slower, never wrong.  A policy item is a change to that
policy (`PolicyKey`): the dependency index names the proxies that used it before or use it now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from meshplane.model.policy.keys import DependencyKey
from meshplane.store import schema
from meshplane.store.endpoints import ITEM_PREFIX
from meshplane.store.endpoints import parse_partition as parse_endpoint_partition
from meshplane.store.policies import policy_key_of_item

Image = Mapping[str, Any]


@dataclass
class MeshChanges:
    """Everything one batch changed in one mesh, and the stream records that carried it."""

    resources: set[DependencyKey] = field(default_factory=set)
    endpoint_nodes: set[str] = field(default_factory=set)
    full: bool = False
    sequence_numbers: list[str] = field(default_factory=list)


def _image(record: Mapping[str, Any]) -> Image:
    dynamodb = record.get("dynamodb", {})
    return dynamodb.get("NewImage") or dynamodb.get("OldImage") or dynamodb.get("Keys") or {}


def _endpoint_changed(record: Mapping[str, Any]) -> bool:
    dynamodb = record.get("dynamodb", {})
    old, new = dynamodb.get("OldImage") or {}, dynamodb.get("NewImage") or {}
    return (old.get("present"), old.get("endpoint")) != (new.get("present"), new.get("endpoint"))


def resource_key(image: Image) -> DependencyKey | None:
    """The App Mesh resource or policy a stream image holds, or None for counters, claims and list entries."""
    deserializer = schema.deserializer()
    item = {name: deserializer.deserialize(value) for name, value in image.items()}
    return schema.key_of_item(item) or policy_key_of_item(item)


def collect(records: Iterable[Mapping[str, Any]]) -> dict[str, MeshChanges]:
    """Group stream records by mesh; raises KeyError/ValueError on a record without keys."""
    meshes: dict[str, MeshChanges] = {}
    for record in records:
        keys = record["dynamodb"]["Keys"]
        pk, sk = keys["pk"]["S"], keys["sk"]["S"]
        sequence = record["dynamodb"].get("SequenceNumber", "")
        if pk.startswith("MESH#"):
            try:
                key = resource_key(_image(record))
            except (KeyError, ValueError, TypeError):
                key = None
                meshes.setdefault(pk.removeprefix("MESH#"), MeshChanges()).full = True
            else:
                if key is None:
                    continue
            changes = meshes.setdefault(pk.removeprefix("MESH#"), MeshChanges())
            if key is not None:
                changes.resources.add(key)
        elif (ref := parse_endpoint_partition(pk)) is not None and sk.startswith(ITEM_PREFIX):
            if not _endpoint_changed(record):
                continue
            changes = meshes.setdefault(ref[0], MeshChanges())
            changes.endpoint_nodes.add(ref[1])
        else:
            continue
        changes.sequence_numbers.append(sequence)
    return meshes
