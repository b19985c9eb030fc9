"""`meshplane import` choices that need no running stack: the account templates see, the signing hook."""

from __future__ import annotations

import argparse

import pytest
from meshplane.migrate import cli
from moto import mock_aws


def arguments(endpoint: str) -> argparse.Namespace:
    return argparse.Namespace(sources=["t.yaml"], endpoint_url=endpoint, profile=None, region="us-east-1")


def test_templates_see_the_deployed_api_s_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "111122223333")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        assert cli._target_account(arguments("https://a1b2c3.execute-api.us-east-1.amazonaws.com/v1")) == \
            "111122223333"
        assert cli._target_account(arguments("http://127.0.0.1:9080")) is None  # local: the emulator's account


def test_the_deployed_api_is_signed_for_api_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.awsrequest import AWSResponse

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    class Body:
        def stream(self, **_: object) -> object:
            yield b'{"meshes": []}'

    def scope(client: object) -> str:
        """The service a ListMeshes call is signed for (answered here, never sent)."""
        seen: list[str] = []

        def answer(request: object, **_: object) -> AWSResponse:
            seen.append(request.headers["Authorization"].decode())  # type: ignore[attr-defined]
            return AWSResponse(request.url, 200, {}, Body())  # type: ignore[attr-defined]

        client.meta.events.register("before-send.app-mesh", answer)  # type: ignore[attr-defined]
        client.list_meshes()  # type: ignore[attr-defined]
        return seen[0].split("Credential=")[1].split(",")[0].split("/")[3]

    assert scope(cli.target_client("https://a1b2c3.execute-api.us-east-1.amazonaws.com/v1", "us-east-1", None)) \
        == "execute-api"
    assert scope(cli.target_client("https://mesh.example.com/v1", "us-east-1", None, signing="execute-api")) \
        == "execute-api"
    assert scope(cli.target_client("http://127.0.0.1:9080", "us-east-1", None)) == "appmesh"
