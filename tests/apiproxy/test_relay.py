"""What the proxy forwards, what it refuses itself, and how the upstream's answers come back."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from authz.iamlab import REGION, IamLab, Keys
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from meshplane.localnet.loopback import free_port, port_is_free

from apiproxy.harness import Upstream, api_proxy, aws, client_env


def _error(answer: requests.Response) -> tuple[int, str, str]:
    return answer.status_code, answer.headers.get("x-amzn-ErrorType", ""), answer.json()["message"]


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/v1/v20190125/meshes"),  # the stage is the proxy's to add
    ("POST", "/_meshplane/authenticate"),
    ("GET", "/v20190125/meshes/m/extra"),
    ("PATCH", "/v20190125/meshes"),  # an App Mesh path, but no App Mesh operation
    ("GET", "/moto-api/reset"),
])
def test_paths_outside_app_mesh_are_404_and_never_forwarded(proxy: str, target: Upstream, method: str,
                                                           path: str) -> None:
    before = len(target.stage.events)
    answer = requests.request(method, f"{proxy}{path}", timeout=10)
    status, error_type, message = _error(answer)
    assert (status, error_type) == (404, "NotFoundException")
    assert message
    assert len(target.stage.events) == before


def test_only_rest_json_headers_go_upstream_and_the_answer_comes_back_byte_for_byte(
        proxy: str, target: Upstream, operator: Keys) -> None:
    sent = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "terraform/1.9",
            "X-Amz-Client-Context": "kept", "Cookie": "session=1", "Proxy-Authorization": "Basic eDp4",
            "Connection": "close, X-Hop", "X-Hop": "1", "amz-sdk-invocation-id": "abc", "X-Forwarded-For": "10.0.0.1",
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIACLIENT/20240101/us-east-1/appmesh/aws4_request, "
                             "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
            "X-Amz-Date": "20240101T000000Z", "X-Amz-Security-Token": "client-token"}
    answer = requests.get(f"{proxy}/v20190125/meshes?limit=5", headers=sent, timeout=10)
    assert answer.status_code == 200
    upstream_event = target.stage.events[-1]
    received = {name.lower(): value for name, value in upstream_event["headers"].items()}
    assert received["user-agent"] == "terraform/1.9"
    assert received["x-amz-client-context"] == "kept"
    assert received["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={operator.access_key}/")
    assert "/us-east-1/execute-api/aws4_request" in received["authorization"]
    assert received["x-amz-date"] != "20240101T000000Z"
    for dropped in ("cookie", "proxy-authorization", "x-hop", "amz-sdk-invocation-id", "x-forwarded-for",
                    "x-amz-security-token"):
        assert dropped not in received, dropped
    assert upstream_event["path"] == "/v1/v20190125/meshes"
    assert upstream_event["queryStringParameters"] == {"limit": "5"}

    upstream_answer = target.stage.answers[-1]
    assert answer.content == upstream_answer["body"].encode()
    assert answer.headers["x-amzn-RequestId"] == upstream_answer["headers"]["x-amzn-RequestId"]


def test_a_path_in_any_percent_encoding_is_signed_as_sent(proxy: str, target: Upstream) -> None:
    """Escapes in lower case and of unreserved characters arrive as signed: the upstream checks the signature."""
    host, port = urlsplit(proxy).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)  # sends the target as written
    try:
        connection.request("GET", "/v20190125/meshes/no%2dsuch%5fmesh?meshOwner=12345678901%32")
        answer = connection.getresponse()
        status, error_type = answer.status, answer.getheader("x-amzn-ErrorType")
        message = json.loads(answer.read())["message"]
    finally:
        connection.close()
    assert (status, error_type) == (404, "NotFoundException")  # the API's answer: the signature held
    assert "no-such_mesh" in message
    assert target.stage.events[-1]["queryStringParameters"] == {"meshOwner": "123456789012"}


def test_wrong_proxy_credentials_get_the_upstreams_403(target: Upstream, operator: Keys, tmp_path: Path) -> None:
    wrong = Keys(operator.access_key, "not-the-secret", operator.arn)
    with api_proxy(target.url, wrong, tmp_path / "wrong") as url:
        answer = requests.get(f"{url}/v20190125/meshes", timeout=10)
        assert answer.status_code == 403
        assert answer.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
        assert answer.content == json.dumps(
            {"message": "The request signature we calculated does not match the signature you provided"}).encode()
        done = aws(url, tmp_path / "home", operator, "list-meshes")
        assert done.returncode != 0
        assert "InvalidSignatureException" in done.stderr


def test_an_upstream_denial_names_the_proxys_principal(target: Upstream, lab: IamLab, tmp_path: Path) -> None:
    reader = lab.user({"Effect": "Allow", "Action": "appmesh:List*", "Resource": "*"})
    with api_proxy(target.url, reader, tmp_path / "reader") as url:
        assert requests.get(f"{url}/v20190125/meshes", timeout=10).status_code == 200
        answer = requests.put(f"{url}/v20190125/meshes", json={"meshName": "denied"}, timeout=10)
        status, error_type, message = _error(answer)
        assert (status, error_type) == (403, "ForbiddenException")
        assert f"User: {reader.arn} is not authorized to perform: appmesh:CreateMesh" in message
        assert answer.content == target.stage.answers[-1]["body"].encode()


def test_an_unreachable_target_is_503_in_app_mesh_shape(operator: Keys, tmp_path: Path) -> None:
    with api_proxy(f"http://127.0.0.1:{free_port()}/v1", operator, tmp_path / "down") as url:
        answer = requests.get(f"{url}/v20190125/meshes", timeout=10)
        status, error_type, message = _error(answer)
        assert (status, error_type) == (503, "ServiceUnavailableException")
        assert "did not answer" in message
        assert answer.headers["Content-Type"] == "application/json"
        done = aws(url, tmp_path / "home", operator, "list-meshes")
        assert "ServiceUnavailableException" in done.stderr


def test_a_non_loopback_bind_needs_allow_remote(operator: Keys, tmp_path: Path) -> None:
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "meshplane.cli", "api-proxy", "--host", "0.0.0.0", "--port",
                           str(port), "--target", "https://abc123.execute-api.us-east-1.amazonaws.com/v1"],
                          env=client_env(tmp_path / "home", operator), capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode != 0
    assert "--host 0.0.0.0 is not a loopback address" in done.stderr
    assert "--allow-remote" in done.stderr
    assert port_is_free("0.0.0.0", port)


def test_allow_remote_takes_only_the_proxys_own_signature(target: Upstream, lab: IamLab, operator: Keys,
                                                          tmp_path: Path) -> None:
    def appmesh(url: str, keys: Keys | None) -> object:
        credentials = keys.boto if keys else {"region_name": REGION, "config": Config(signature_version=UNSIGNED)}
        return boto3.client("appmesh", endpoint_url=url, **credentials)

    with api_proxy(target.url, operator, tmp_path / "remote", "--allow-remote") as url:
        assert "meshes" in appmesh(url, operator).list_meshes()  # type: ignore[attr-defined]
        for keys, code in ((None, "MissingAuthenticationTokenException"),
                           (lab.user({"Effect": "Allow", "Action": "appmesh:*", "Resource": "*"}),
                            "UnrecognizedClientException"),
                           (Keys(operator.access_key, "forged", operator.arn), "InvalidSignatureException")):
            before = len(target.stage.events)
            with pytest.raises(ClientError) as refused:
                appmesh(url, keys).list_meshes()  # type: ignore[attr-defined]
            assert refused.value.response["Error"]["Code"] == code
            assert len(target.stage.events) == before


def test_meshplanes_own_operations_are_forwarded_and_other_meshplane_paths_are_not(proxy: str,
                                                                                   target: Upstream) -> None:
    """The Policy and Rollout APIs and the proxy reads pass as App Mesh's operations do; a path or method none of
    them serves is the proxy's own 404, never forwarded."""
    assert requests.put(f"{proxy}/v20190125/meshes", json={"meshName": "ext"}, timeout=10).status_code == 200
    assert requests.put(f"{proxy}/v20190125/meshes/ext/virtualNodes", timeout=10, json={
        "virtualNodeName": "front", "spec": {}}).status_code == 200
    policy = {"policyName": "via", "spec": {"targets": [{"virtualNode": {"virtualNodeName": "front"}}],
              "headers": {"request": {"add": [{"name": "x-via", "value": "mesh"}]}}}}  # fmt: skip
    created = requests.put(f"{proxy}/meshplane/v1/meshes/ext/policies", json=policy, timeout=10)
    assert created.status_code == 200, created.text
    assert created.content == target.stage.answers[-1]["body"].encode()
    assert target.stage.events[-1]["path"] == "/v1/meshplane/v1/meshes/ext/policies"
    assert [p["policyName"] for p in requests.get(f"{proxy}/meshplane/v1/meshes/ext/policies", timeout=10)
            .json()["policies"]] == ["via"]  # fmt: skip
    assert requests.get(f"{proxy}/meshplane/v1/meshes/ext/rollouts", timeout=10).json()["rollouts"] == []
    missing = requests.post(f"{proxy}/meshplane/v1/meshes/ext/rollouts/none/start", timeout=10)
    assert _error(missing)[:2] == (404, "NotFoundException") and "none" in _error(missing)[2]
    assert target.stage.events[-1]["path"] == "/v1/meshplane/v1/meshes/ext/rollouts/none/start"
    proxies = requests.get(f"{proxy}/meshplane/v1/meshes/ext/proxies", timeout=10).json()
    assert [n["name"] for n in proxies["nodes"]] == ["front"]
    before = len(target.stage.events)
    for method, path in (("PATCH", "/meshplane/v1/meshes/ext/policies"),
                         ("POST", "/meshplane/v1/meshes/ext/rollouts/none/explode"),
                         ("GET", "/meshplane/v1/meshes/ext/secrets"),
                         ("PUT", "/meshplane/v1/meshes/ext/proxies")):  # fmt: skip
        answer = requests.request(method, f"{proxy}{path}", timeout=10)
        assert _error(answer)[:2] == (404, "NotFoundException"), (method, path)
    assert len(target.stage.events) == before
