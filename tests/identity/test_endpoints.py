"""A proof is only ever sent to an STS endpoint of the server's partition, or to the one configured emulator."""

from __future__ import annotations

import pytest
from meshplane.identity.endpoints import EndpointRefused, StsEndpoints


@pytest.mark.parametrize("url", [
    "https://sts.amazonaws.com/", "https://sts.us-east-1.amazonaws.com", "https://sts.eu-west-3.amazonaws.com/",
    "https://sts.ap-southeast-7.amazonaws.com:443/", "http://127.0.0.1:4566/", "http://127.0.0.1:4566",
])  # fmt: skip
def test_sts_endpoints_of_the_partition_and_the_configured_one_are_allowed(url: str) -> None:
    assert StsEndpoints("aws", ["http://127.0.0.1:4566"]).check(url) == url


@pytest.mark.parametrize("url", [
    "https://evil.example/",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://sts.us-east-1.amazonaws.com/",  # not https
    "https://sts.us-east-1.amazonaws.com.evil.example/",
    "https://evil.example/sts.us-east-1.amazonaws.com/",
    "https://sts.us-east-1.amazonaws.com:8443/",
    "https://sts.us-east-1.amazonaws.com/?Action=AssumeRole",
    "https://sts.us-east-1.amazonaws.com/other",
    "https://user:pw@sts.us-east-1.amazonaws.com/",
    "https://sts.cn-north-1.amazonaws.com.cn/",  # another partition
    "https://sts.us-gov-west-1.amazonaws.com/",
    "https://sts.nowhere.amazonaws.com/",
    "https://iam.amazonaws.com/",
    "http://127.0.0.1:4567/",  # not the configured port
    "http://127.0.0.1:4566/x",
    "https://[::1/",
])  # fmt: skip
def test_anything_else_is_refused(url: str) -> None:
    with pytest.raises(EndpointRefused):
        StsEndpoints("aws", ["http://127.0.0.1:4566"]).check(url)


def test_another_partition_has_its_own_suffix_and_no_global_endpoint() -> None:
    china = StsEndpoints("aws-cn")
    assert china.check("https://sts.cn-north-1.amazonaws.com.cn/")
    for url in ("https://sts.amazonaws.com/", "https://sts.us-east-1.amazonaws.com/"):
        with pytest.raises(EndpointRefused):
            china.check(url)
