"""Multi-call reads (in-process moto): Query pages through boto3's paginator, and BatchGetItem's
`UnprocessedKeys` read again after a capped, jittered exponential pause, a bounded number of times."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from meshplane.model import shapes
from meshplane.model.ids import Kind, ResourceKey
from meshplane.store import ResourceStore, create_table, reads
from meshplane.store.errors import TooManyRequests
from moto import mock_aws

MESHES = ("a", "b", "c", "d", "e")


class PartlyServed:
    """A DynamoDB client whose first `partial` BatchGetItem calls serve only the first half of their keys
    and hand the rest back as `UnprocessedKeys`, as a throttled table does."""

    def __init__(self, client: Any, partial: int) -> None:
        self._client, self.partial = client, partial
        self.calls: list[int] = []  # keys asked for, per call

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((table, request),) = RequestItems.items()
        self.calls.append(len(request["Keys"]))
        assert len(self.calls) <= 50, "BatchGetItem retried without bound"
        if len(self.calls) > self.partial:
            return self._client.batch_get_item(RequestItems=RequestItems)
        half = len(request["Keys"]) // 2
        served, held = request["Keys"][:half], request["Keys"][half:]
        answer = self._client.batch_get_item(RequestItems={table: {**request, "Keys": served}}) if served else {}
        unprocessed = {table: {**request, "Keys": held}}
        return {"Responses": answer.get("Responses", {table: []}), "UnprocessedKeys": unprocessed}


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "state")
        store = ResourceStore("state", client)
        for name in MESHES:
            store.create(ResourceKey(Kind.MESH, name, name), shapes.MeshSpec())
        yield client


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses between BatchGetItem calls, with the jitter draw fixed at its maximum."""
    taken: list[float] = []
    monkeypatch.setattr(reads, "sleep", taken.append)
    monkeypatch.setattr(reads, "random", lambda: 1.0)
    return taken


def test_unprocessed_keys_are_read_again_after_doubling_pauses(dynamodb: Any, pauses: list[float]) -> None:
    client = PartlyServed(dynamodb, partial=3)
    page, more = ResourceStore("state", client).mesh_page(10, None)
    assert [mesh.mesh_name for mesh in page] == list(MESHES) and more is None  # type: ignore[attr-defined]
    assert client.calls == [5, 3, 2, 1]
    assert pauses == [0.05, 0.1, 0.2]


def test_each_pause_is_a_uniform_draw_below_its_ceiling(
    dynamodb: Any, pauses: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reads, "random", lambda: 0.5)
    ResourceStore("state", PartlyServed(dynamodb, partial=2)).mesh_page(10, None)
    assert pauses == [0.025, 0.05]


def test_a_batch_that_never_completes_gives_up_as_too_many_requests(dynamodb: Any, pauses: list[float]) -> None:
    client = PartlyServed(dynamodb, partial=10**6)
    with pytest.raises(TooManyRequests, match="1 keys still unprocessed after 8 reads"):
        ResourceStore("state", client).mesh_page(10, None)
    assert len(client.calls) == reads.MAX_BATCH_ATTEMPTS
    assert pauses == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]  # capped


def test_a_batch_of_more_than_100_keys_goes_out_in_calls_of_100(dynamodb: Any, pauses: list[float]) -> None:
    for i in range(150):
        dynamodb.put_item(TableName="state", Item={"pk": {"S": "bulk"}, "sk": {"S": f"{i:03}"}})
    client = PartlyServed(dynamodb, partial=0)
    keys = [{"pk": {"S": "bulk"}, "sk": {"S": f"{i:03}"}} for i in range(150)]
    found = reads.batch_get(client, "state", keys)
    assert sorted(item["sk"]["S"] for item in found) == [f"{i:03}" for i in range(150)]
    assert client.calls == [100, 50] and pauses == []


def test_a_query_returns_the_items_of_every_page(dynamodb: Any) -> None:
    for i in range(25):
        dynamodb.put_item(TableName="state", Item={"pk": {"S": "many"}, "sk": {"S": f"{i:02}"}})
    items = reads.query_items(dynamodb, TableName="state", KeyConditionExpression="pk = :pk",
                              ExpressionAttributeValues={":pk": {"S": "many"}}, Limit=10)  # fmt: skip
    assert [item["sk"]["S"] for item in items] == [f"{i:02}" for i in range(25)]
