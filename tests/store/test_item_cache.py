"""A warm store parses a resource item once: the read stays fresh, only an unchanged item's parse is skipped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from meshplane.model import shapes
from meshplane.model.ids import Kind, ResourceKey
from meshplane.store import ResourceStore, create_table, schema
from meshplane.store.item_cache import ParsedItems
from moto import mock_aws

MESH = ResourceKey(Kind.MESH, "m", "m")
ACCOUNT = "123456789012"
NODES = [ResourceKey(Kind.VIRTUAL_NODE, "m", f"n{i}") for i in range(3)]


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sort key of every item `schema.data_of_item` parses."""
    seen: list[str] = []
    real = schema.data_of_item

    def counted(item: Any) -> shapes.AppMeshModel:
        seen.append(item["sk"])
        return real(item)

    monkeypatch.setattr(schema, "data_of_item", counted)
    return seen


@pytest.fixture
def store() -> Iterator[ResourceStore]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "state")
        store = ResourceStore("state", client)
        store.create(MESH, shapes.MeshSpec())
        for node in NODES:
            store.create(node, shapes.VirtualNodeSpec())
        yield store


def test_a_second_load_parses_only_the_item_that_changed(store: ResourceStore, parses: list[str]) -> None:
    first = store.load_mesh_state("m")
    assert sorted(parses) == sorted(["MESH", *(f"virtualNode#{n.name}" for n in NODES)])
    parses.clear()
    assert store.load_mesh_state("m") == first
    assert parses == []
    store.update(NODES[1], shapes.VirtualNodeSpec.model_validate({"backends": [
        {"virtualService": {"virtualServiceName": "a.local"}}]}))
    parses.clear()  # the update answers with its own parse
    third = store.load_mesh_state("m")
    assert parses == ["virtualNode#n1"]
    assert third.virtual_nodes["n1"].metadata.version == 2
    assert third.virtual_nodes["n1"].spec.backends[0].virtual_service.virtual_service_name == "a.local"
    assert third.virtual_nodes["n0"] is first.virtual_nodes["n0"]


def test_any_stored_field_the_parse_reads_is_part_of_the_key(parses: list[str]) -> None:
    """Same version, other spec (a write that did not bump it, say): parsed again, never served from the memo."""
    parsed = ParsedItems()
    item = {**schema.item_key(NODES[0]), "kind": "virtualNode", "mesh": "m", "name": "n0", "arn": "arn:x",
            "uid": "u", "version": 1, "createdAt": 1, "lastUpdatedAt": 1, "meshOwner": ACCOUNT,
            "resourceOwner": ACCOUNT, "status": "ACTIVE", "spec": "{}"}
    plain = parsed.data(item)
    assert parsed.data(dict(item)) is plain
    other = parsed.data({**item, "spec": '{"backends":[{"virtualService":{"virtualServiceName":"b.local"}}]}'})
    assert other.spec.backends and not plain.spec.backends
    assert parsed.data({**item, "status": "DELETED"}).status.status == "DELETED"
    assert len(parses) == 3


def test_the_memo_is_bounded(parses: list[str]) -> None:
    parsed = ParsedItems(limit=2)
    items = [{**schema.item_key(n), "kind": "virtualNode", "mesh": "m", "name": n.name, "arn": "arn:x", "uid": "u",
              "version": 1, "createdAt": 1, "lastUpdatedAt": 1, "meshOwner": ACCOUNT, "resourceOwner": ACCOUNT,
              "status": "ACTIVE", "spec": "{}"} for n in NODES]
    for item in items:
        parsed.data(item)
    assert len(parsed) <= 2
