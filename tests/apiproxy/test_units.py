"""The proxy's pure parts: the target, the upstream path, the header filters and the bind check."""

from __future__ import annotations

import pytest
from meshplane.apiproxy.access import is_loopback
from meshplane.apiproxy.forward import request_headers, response_headers, upstream_path
from meshplane.apiproxy.target import Target, TargetError, parse_target


@pytest.mark.parametrize(("url", "expected"), [
    ("https://a1b2c3.execute-api.eu-west-1.amazonaws.com/v1",
     Target("https", "a1b2c3.execute-api.eu-west-1.amazonaws.com", "/v1", "eu-west-1")),
    ("https://a1b2c3.execute-api.cn-north-1.amazonaws.com.cn/prod/",
     Target("https", "a1b2c3.execute-api.cn-north-1.amazonaws.com.cn", "/prod", "cn-north-1")),
    ("https://a1b2c3-vpce-0abc.execute-api.us-gov-west-1.vpce.amazonaws.com/v1",
     Target("https", "a1b2c3-vpce-0abc.execute-api.us-gov-west-1.vpce.amazonaws.com", "/v1", "us-gov-west-1")),
])
def test_the_region_comes_from_an_execute_api_host(url: str, expected: Target) -> None:
    assert parse_target(url) == expected


def test_region_overrides_and_is_needed_for_other_hosts() -> None:
    assert parse_target("http://127.0.0.1:9080", "us-east-1") == Target("http", "127.0.0.1:9080", "", "us-east-1")
    assert parse_target("https://a.execute-api.eu-west-1.amazonaws.com/v1", "eu-west-2").region == "eu-west-2"
    with pytest.raises(TargetError, match=r"mesh\.example\.com names no region"):
        parse_target("https://mesh.example.com/v1")


@pytest.mark.parametrize("url", ["a.execute-api.us-east-1.amazonaws.com/v1", "ftp://x.execute-api.us-east-1.x/",
                                 "https://x.execute-api.us-east-1.amazonaws.com/v1?stage=2",
                                 "https://u:p@x.execute-api.us-east-1.amazonaws.com/v1",
                                 "https://x.execute-api.us-east-1.amazonaws.com:https/v1"])
def test_a_target_that_is_not_an_api_url_is_refused(url: str) -> None:
    with pytest.raises(TargetError, match="--target"):
        parse_target(url)


def test_the_stage_prefix_goes_before_the_app_mesh_path() -> None:
    target = parse_target("https://a.execute-api.us-east-1.amazonaws.com/v1/")
    assert target.url("/v20190125/meshes") == "https://a.execute-api.us-east-1.amazonaws.com/v1/v20190125/meshes"


def test_the_upstream_path_is_canonically_encoded() -> None:
    assert upstream_path("/v20190125/meshes/a%2fb%7ec", None) == "/v20190125/meshes/a%2Fb~c"
    assert upstream_path("/v20190125/meshes/a:b", None) == "/v20190125/meshes/a%3Ab"
    assert (upstream_path("/v20190125/meshes", {"nextToken": ["a+b/=="], "limit": ["5"]})
            == "/v20190125/meshes?nextToken=a%2Bb%2F%3D%3D&limit=5")


def test_request_headers_keep_rest_json_and_drop_auth_and_hop_by_hop() -> None:
    kept = request_headers({
        "Content-Type": "application/json", "Accept": "*/*", "User-Agent": "aws-cli/2", "X-Amz-User-Agent": "cdk",
        "Authorization": "AWS4-HMAC-SHA256 ...", "X-Amz-Date": "20240101T000000Z", "X-Amz-Security-Token": "t",
        "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", "Host": "127.0.0.1:9090", "Connection": "keep-alive",
        "Transfer-Encoding": "chunked", "Content-Length": "2", "Cookie": "c", "amz-sdk-request": "attempt=1"})
    assert kept == {"Content-Type": "application/json", "Accept": "*/*", "User-Agent": "aws-cli/2",
                    "X-Amz-User-Agent": "cdk"}


def test_response_headers_keep_the_type_and_the_amazon_headers() -> None:
    assert response_headers([("Content-Type", "application/json"), ("x-amzn-ErrorType", "ConflictException"),
                             ("x-amzn-RequestId", "r-1"), ("x-amz-apigw-id", "g"), ("Connection", "close"),
                             ("Content-Length", "10"), ("Set-Cookie", "x"), ("Transfer-Encoding", "chunked")]) == {
        "Content-Type": "application/json", "x-amzn-ErrorType": "ConflictException", "x-amzn-RequestId": "r-1",
        "x-amz-apigw-id": "g"}


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.9.9.9", True), ("::1", True),
                                                ("localhost", True), ("0.0.0.0", False), ("::", False),
                                                ("10.0.0.1", False), ("no-such-host.invalid", False)])
def test_only_loopback_binds_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
