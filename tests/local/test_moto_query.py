"""The emulator's partition Query (`moto_query`) answers every Query as moto does, reading one partition."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from meshplane.local import moto_query
from moto import mock_aws
from moto.dynamodb.models.table import Table

KEYED, HASH_ONLY = "keyed", "hash-only"
PARTITIONS = [f"p{i:02d}" for i in range(12)]


def _query_everything(client: Any, request: dict[str, Any]) -> list[Any]:
    """Every page of one Query, as (items, count, scanned, more) per page."""
    pages, start = [], None
    while True:
        answer = client.query(**request, **({"ExclusiveStartKey": start} if start else {}))
        start = answer.get("LastEvaluatedKey")
        pages.append((answer.get("Items"), answer["Count"], answer["ScannedCount"], start))
        if not start:
            return pages


def _requests() -> list[dict[str, Any]]:
    rng = random.Random(7)
    out: list[dict[str, Any]] = []
    for partition in [*rng.sample(PARTITIONS, 4), "absent"]:
        key = {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": partition}}}
        prefixed = {"KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
                    "ExpressionAttributeValues": {":p": {"S": partition}, ":s": {"S": "b"}}}  # fmt: skip
        between = {"KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :z",
                   "ExpressionAttributeValues": {":p": {"S": partition}, ":a": {"S": "a3"}, ":z": {"S": "c1"}}}
        filtered = {**key, "FilterExpression": "n > :n",
                    "ExpressionAttributeValues": {":p": {"S": partition}, ":n": {"N": "40"}}}
        out += [
            {"TableName": KEYED, **key},
            {"TableName": KEYED, **key, "ScanIndexForward": False, "Limit": 3},
            {"TableName": KEYED, **prefixed, "Limit": 2},
            {"TableName": KEYED, **between},
            {"TableName": KEYED, **filtered, "Limit": 4},
            {"TableName": KEYED, **key, "ProjectionExpression": "sk, n"},
            {"TableName": KEYED, **key, "Select": "COUNT"},
            {"TableName": HASH_ONLY, **key},
        ]
    return out


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(TableName=KEYED, BillingMode="PAY_PER_REQUEST",
                              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                         {"AttributeName": "sk", "KeyType": "RANGE"}],
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                    {"AttributeName": "sk", "AttributeType": "S"}])  # fmt: skip
        dynamodb.create_table(TableName=HASH_ONLY, BillingMode="PAY_PER_REQUEST",
                              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])  # fmt: skip
        rng = random.Random(11)
        for partition in PARTITIONS:
            dynamodb.put_item(TableName=HASH_ONLY, Item={"pk": {"S": partition}, "n": {"N": str(rng.randrange(99))}})
            for _ in range(rng.randrange(13)):
                sk = f"{rng.choice('abcd')}{rng.randrange(9)}"
                dynamodb.put_item(TableName=KEYED, Item={"pk": {"S": partition}, "sk": {"S": sk},
                                                         "n": {"N": str(rng.randrange(99))}})  # fmt: skip
        yield dynamodb


def test_every_query_answers_page_for_page_as_moto_does(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    moto_query.install()
    patched = [_query_everything(client, request) for request in _requests()]
    monkeypatch.setattr(Table, "query", Table.query.__wrapped__)  # type: ignore[attr-defined]
    monkeypatch.setattr(Table, "all_items", Table.all_items.__wrapped__)  # type: ignore[attr-defined]
    assert patched == [_query_everything(client, request) for request in _requests()]
    assert sum(len(page[0] or []) for pages in patched for page in pages) > 20  # the queries found items


def test_a_base_table_query_never_reads_the_whole_table_but_a_scan_still_does(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto_query.install()
    whole_table_reads: list[str] = []
    whole_table = moto_query.MOTO["all_items"]

    def counted(self: Any) -> Any:
        whole_table_reads.append(self.name)
        return whole_table(self)

    monkeypatch.setitem(moto_query.MOTO, "all_items", counted)
    answer = client.query(TableName=KEYED, KeyConditionExpression="pk = :p",
                          ExpressionAttributeValues={":p": {"S": "p03"}})  # fmt: skip
    assert answer["Count"] > 0 and {item["pk"]["S"] for item in answer["Items"]} == {"p03"}
    assert whole_table_reads == []
    client.scan(TableName=KEYED)
    assert whole_table_reads == [KEYED]
