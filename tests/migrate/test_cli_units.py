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


def test_a_local_api_is_called_unsigned_when_there_are_no_credentials(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: object) -> None:
    from botocore.awsrequest import AWSResponse

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", f"{tmp_path}/none")
    monkeypatch.setenv("AWS_CONFIG_FILE", f"{tmp_path}/none")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = cli.target_client("http://127.0.0.1:9080", "us-east-1", None)
    sent: list[dict[str, str]] = []

    class Body:
        def stream(self, **_: object) -> object:
            yield b'{"meshes": []}'

    def answer(request: object, **_: object) -> AWSResponse:
        sent.append(dict(request.headers))  # type: ignore[attr-defined]
        return AWSResponse(request.url, 200, {}, Body())  # type: ignore[attr-defined]

    client.meta.events.register("before-send.app-mesh", answer)
    assert client.list_meshes()["meshes"] == []
    assert "Authorization" not in sent[0]
