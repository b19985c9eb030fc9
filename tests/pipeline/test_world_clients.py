"""The clients a world hands its pipeline are reused by later worlds only as new ones, and never reach AWS."""

from __future__ import annotations

from typing import Any

import pytest
from moto import mock_aws

from .conftest import WORLD_CLIENTS, NoMockActive, make_world


def test_a_later_world_sees_neither_the_data_nor_the_handlers_an_earlier_test_left(aws_vars: None) -> None:
    seen: list[str] = []

    def record(**_: Any) -> None:
        seen.append("call")

    with WORLD_CLIENTS.lent(), mock_aws():
        first = make_world()
        first.clients.s3.put_object(Bucket=first.settings.bucket, Key="left", Body=b"x")
        first.clients.servicediscovery.meta.events.register("before-call.servicediscovery", record)
    with WORLD_CLIENTS.lent(), mock_aws():
        second = make_world()
        assert second.clients.s3 is first.clients.s3  # reused: nothing about it changed
        assert second.clients.servicediscovery is not first.clients.servicediscovery
        assert second.clients.s3.list_objects_v2(Bucket=second.settings.bucket)["KeyCount"] == 0
        second.clients.servicediscovery.list_namespaces()
    assert seen == []


def test_a_world_client_refuses_to_send_once_its_mock_has_ended(aws_vars: None) -> None:
    with WORLD_CLIENTS.lent(), mock_aws():
        world = make_world()
    with pytest.raises(NoMockActive):
        world.clients.s3.list_buckets()
    with pytest.raises(NoMockActive):
        make_world()
