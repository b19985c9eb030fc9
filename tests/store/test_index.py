"""The dependency index (in-process moto): entries read back as written, stored deflated so the index that every
recompute reads takes fewer Query pages, and entries written as lists of strings still read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from meshplane.store import create_table
from meshplane.store.index import DependencyIndex, IndexEntry, partition
from moto import mock_aws

TABLE = "index-test"
DEPS = frozenset({"mesh/m", "mesh/m/virtualNode/front", "mesh/m/virtualService/colors.local",
                  "mesh/m/virtualRouter/colors/route/default", "mesh/m/policy/retries"})


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        yield client


def test_entries_read_back_as_written_empty_sets_included(dynamodb: Any) -> None:
    index = DependencyIndex(TABLE, dynamodb)
    index.put("m", "mesh/m/virtualNode/front", DEPS, {"blue", "green"})
    index.put_many("m", [IndexEntry("mesh/m/virtualNode/idle", frozenset({"mesh/m"}), frozenset())])

    assert DependencyIndex(TABLE, dynamodb).entries("m") == {
        "mesh/m/virtualNode/front": IndexEntry("mesh/m/virtualNode/front", DEPS, frozenset({"blue", "green"})),
        "mesh/m/virtualNode/idle": IndexEntry("mesh/m/virtualNode/idle", frozenset({"mesh/m"}), frozenset()),
    }


def test_an_entry_is_stored_deflated_in_far_less_than_its_names_take(dynamodb: Any) -> None:
    many = frozenset(f"mesh/m/virtualNode/node-{i:05d}" for i in range(40))
    DependencyIndex(TABLE, dynamodb).put("m", "mesh/m/virtualNode/front", many, {"node-00001"})

    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": partition("m")},
                                                   "sk": {"S": "mesh/m/virtualNode/front"}})["Item"]
    assert len(item["deps"]["B"]) * 4 < sum(len(name) for name in many)


def test_an_entry_written_as_lists_of_strings_is_read(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={
        "pk": {"S": partition("m")}, "sk": {"S": "mesh/m/virtualNode/front"},
        "deps": {"L": [{"S": d} for d in sorted(DEPS)]}, "endpointDeps": {"L": [{"S": "blue"}]}})

    assert DependencyIndex(TABLE, dynamodb).entries("m") == {
        "mesh/m/virtualNode/front": IndexEntry("mesh/m/virtualNode/front", DEPS, frozenset({"blue"}))}


def test_a_warm_index_parses_an_unchanged_entry_once_and_a_rewritten_one_again(
        dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from meshplane.store import index as index_module

    parsed: list[str] = []
    entry_of_item = index_module.entry_of_item

    def counted(item: Any) -> IndexEntry:
        parsed.append(item["sk"]["S"])
        return entry_of_item(item)

    monkeypatch.setattr(index_module, "entry_of_item", counted)
    writer, reader = DependencyIndex(TABLE, dynamodb), DependencyIndex(TABLE, dynamodb)
    writer.put("m", "mesh/m/virtualNode/front", DEPS, {"blue"})
    writer.put("m", "mesh/m/virtualNode/back", {"mesh/m"}, set())
    reader.entries("m")
    assert reader.entries("m")["mesh/m/virtualNode/front"].endpoint_deps == {"blue"}
    assert sorted(parsed) == ["mesh/m/virtualNode/back", "mesh/m/virtualNode/front"]  # the second read: none

    writer.put("m", "mesh/m/virtualNode/front", DEPS, {"green"})
    assert reader.entries("m")["mesh/m/virtualNode/front"].endpoint_deps == {"green"}
    assert reader.entries_of("m", ["mesh/m/virtualNode/back"])["mesh/m/virtualNode/back"].deps == {"mesh/m"}
    assert sorted(parsed) == ["mesh/m/virtualNode/back", "mesh/m/virtualNode/front", "mesh/m/virtualNode/front"]
