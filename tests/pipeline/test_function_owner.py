"""The pipeline functions take account and partition from the function they run as, as the API does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from meshplane.pipeline import runtime

from .conftest import LambdaContext


@pytest.fixture
def fresh_container(aws_vars: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MESHPLANE_ACCOUNT_ID", "444455556666")
    monkeypatch.setenv("MESHPLANE_PARTITION", "aws")
    monkeypatch.setattr(runtime._holder, "pipeline", None)
    yield


def test_the_first_context_names_the_account_and_partition_of_the_whole_container(fresh_container: None) -> None:
    context = LambdaContext(invoked_function_arn="arn:aws-us-gov:lambda:us-gov-west-1:111122223333:function:rc")
    pipeline = runtime.current(context)
    assert (pipeline.settings.partition, pipeline.settings.account) == ("aws-us-gov", "111122223333")
    assert (pipeline.parts.loader.partition, pipeline.parts.loader.account) == ("aws-us-gov", "111122223333")
    assert runtime.current(LambdaContext()) is pipeline


def test_without_a_context_the_stack_environment_names_them(fresh_container: None) -> None:
    settings = runtime.current().settings
    assert (settings.partition, settings.account) == ("aws", "444455556666")
