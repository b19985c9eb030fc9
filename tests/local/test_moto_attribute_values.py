"""The emulator's attribute values written as held (`moto_attribute_values`) answer every read as moto does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from meshplane.local import moto_attribute_values
from meshplane.store import schema
from moto import mock_aws
from moto.core.serialize import BaseJSONSerializer

TABLE = "values"
NESTED = {"M": {"s": {"S": "x"}, "n": {"N": "1.5"}, "l": {"L": [{"S": "a"}, {"NULL": True}, {"M": {}}]},
                "b": {"BOOL": False}, "ss": {"SS": ["p", "q"]}}}
ITEMS: list[dict[str, Any]] = [
    {"pk": {"S": "a"}, "sk": {"S": "1"}, "s": {"S": "text"}, "n": {"N": "42"}, "nested": NESTED},
    {"pk": {"S": "a"}, "sk": {"S": "2"}, "ns": {"NS": ["1", "2.5"]}, "t": {"BOOL": True}, "z": {"NULL": True},
     "l": {"L": [{"N": "3"}, NESTED, {"L": []}]}, "empty": {"S": ""}},
    {"pk": {"S": "a"}, "sk": {"S": "3"}, "b": {"B": b"\x00\x01bytes"}, "bs": {"BS": [b"x", b"y"]},
     "m": {"M": {"b": {"B": b"inner"}, "s": {"S": "y"}}}},
    {"pk": {"S": "b"}, "sk": {"S": "1"}, "unicode": {"S": "é ☃ \u2028"}, "big": {"S": "v" * 5000}},
]


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    """The state table as the stack makes it (keys pk/sk, a stream of both images), holding ITEMS."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        schema.create_table(dynamodb, TABLE)
        for item in ITEMS:
            dynamodb.put_item(TableName=TABLE, Item=item)
        dynamodb.update_item(TableName=TABLE, Key={"pk": {"S": "a"}, "sk": {"S": "1"}},
                             UpdateExpression="SET n = :n", ExpressionAttributeValues={":n": {"N": "43"}})
        yield dynamodb, boto3.client("dynamodbstreams", region_name="us-east-1")


def _answers(dynamodb: Any, streams: Any) -> list[Any]:
    """Every kind of read that returns attribute values, with the answers' metadata left out."""
    keys = [{"pk": item["pk"], "sk": item["sk"]} for item in ITEMS]
    arn = dynamodb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    answers = [
        *(dynamodb.get_item(TableName=TABLE, Key=key) for key in keys),
        dynamodb.query(TableName=TABLE, KeyConditionExpression="pk = :p",
                       ExpressionAttributeValues={":p": {"S": "a"}}),
        dynamodb.query(TableName=TABLE, KeyConditionExpression="pk = :p", Limit=2,
                       ExpressionAttributeValues={":p": {"S": "a"}}),
        dynamodb.scan(TableName=TABLE),
        dynamodb.batch_get_item(RequestItems={TABLE: {"Keys": keys}}),
        dynamodb.put_item(TableName=TABLE, Item=ITEMS[1], ReturnValues="ALL_OLD"),
        [{**r, "dynamodb": {k: v for k, v in r["dynamodb"].items() if k != "ApproximateCreationDateTime"}}
         for r in streams.get_records(ShardIterator=iterator, Limit=len(ITEMS) + 1)["Records"]],  # the fixture's
    ]
    return [json.loads(json.dumps(a if isinstance(a, list) else {k: v for k, v in a.items()
                                                                   if k != "ResponseMetadata"}, default=repr))
            for a in answers]


def test_every_read_answers_as_moto_does(clients: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    moto_attribute_values.install()
    patched = _answers(*clients)
    monkeypatch.setattr(BaseJSONSerializer, "_serialize", moto_attribute_values.MOTO["serialize"])
    assert patched == _answers(*clients)
    assert patched[0]["Item"]["nested"] == NESTED and patched[2]["Item"]["b"] == {"B": repr(b"\x00\x01bytes")}


def test_a_value_is_written_as_held_only_when_moto_would_write_it_unchanged() -> None:
    assert moto_attribute_values.wire_form(NESTED) == NESTED
    assert moto_attribute_values.wire_form({"L": [{"S": "a"}, {"N": "1"}]}) == {"L": [{"S": "a"}, {"N": "1"}]}
    for moto_s_way in ({"B": "AAE="}, {"BS": ["eA=="]}, {"M": {"x": {"B": "AAE="}}}, {"L": [{"BS": []}]},
                       {"S": 1}, {"N": 1.5}, {"BOOL": "true"}, {"SS": ["a", 1]}, {"unknown": "x"}, {}, "S"):
        assert moto_attribute_values.wire_form(moto_s_way) is None


def test_installing_twice_keeps_moto_s_serializer_behind_one_wrapper() -> None:
    moto_attribute_values.install()
    installed = BaseJSONSerializer._serialize
    moto_attribute_values.install()
    assert BaseJSONSerializer._serialize is installed
    assert not getattr(moto_attribute_values.MOTO["serialize"], "_meshplane_attribute_values", False)

