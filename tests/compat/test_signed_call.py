"""Reading the claim of a SigV4-signed call, and what the compat port's flags and peer parsing accept."""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress

import pytest
from botocore.credentials import ReadOnlyCredentials
from meshplane.delivery import compatflags
from meshplane.delivery.server.appmesh_compat import peer_address
from meshplane.delivery.server.sigv4_metadata import Unsigned, read_signed_call

from .appmesh_image import sign_ads_call

TEMPORARY = ReadOnlyCredentials("ASIAEXAMPLEEXAMPLE01", "secret", "token")


def metadata(**changes: str | None) -> dict[str, str]:
    signed = sign_ads_call(TEMPORARY, "eu-west-1", "ads.example.com:443")
    for name, value in changes.items():
        key = name.replace("_", "-")
        if value is None:
            signed.pop(key, None)
        else:
            signed[key] = value
    return signed


def test_the_claim_of_an_ads_call_signed_like_the_image_does() -> None:
    call = read_signed_call(metadata())
    assert (call.access_key_id, call.region, call.service, call.temporary) == (
        "ASIAEXAMPLEEXAMPLE01", "eu-west-1", "appmesh", True,
    )  # fmt: skip
    assert abs(dt.datetime.now(dt.UTC) - call.signed_at) < dt.timedelta(minutes=1)


def swap(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize(("change", "message"), [
    (lambda a: "", "no SigV4"),
    (lambda a: swap(a, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"), "must use AWS4-HMAC-SHA256"),
    (lambda a: a + ", Signature=" + "0" * 64, "once each"),
    (lambda a: swap(a, "/aws4_request", "/aws4"), "aws4_request"),
    (lambda a: swap(a, "ASIAEXAMPLEEXAMPLE01", "asia-1"), "access key id is malformed"),
    (lambda a: a[:-1] + "Z", "64 lower-case hex"),
    (lambda a: swap(a, "host;", ""), "cover host and x-amz-date"),
    (lambda a: swap(a, ";x-amz-security-token", ""), "x-amz-security-token is sent but not signed"),
    (lambda a: "A" * 5000, "over 4096"),
])  # fmt: skip
def test_malformed_or_inconsistent_authorization_is_refused(change, message: str) -> None:
    signed = metadata()
    signed["authorization"] = change(signed["authorization"])
    with pytest.raises(Unsigned, match=message):
        read_signed_call(signed)


def test_a_scope_date_other_than_the_signing_date_is_refused() -> None:
    signed = metadata()
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y%m%dT%H%M%SZ")
    with pytest.raises(Unsigned, match="not the x-amz-date's"):
        read_signed_call({**signed, "x-amz-date": yesterday})
    with pytest.raises(Unsigned, match="YYYYMMDDTHHMMSSZ"):
        read_signed_call({**signed, "x-amz-date": "yesterday"})


@pytest.mark.parametrize(("peer", "address"), [
    ("ipv4:10.1.2.3:5000", "10.1.2.3"),
    ("ipv6:[fd00::1]:5000", "fd00::1"),
    ("ipv6:%5Bfd00::1%5D:5000", "fd00::1"),
    ("ipv6:[::ffff:10.1.2.3]:5000", "10.1.2.3"),
    ("unix:/run/ads.sock", None),
    ("ipv4:nonsense:1", None),
])  # fmt: skip
def test_peer_addresses(peer: str, address: str | None) -> None:
    assert peer_address(peer) == (ipaddress.ip_address(address) if address else None)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    for name in ("--tls-cert", "--tls-key", "--ca-cert", "--ca-secret-arn"):
        parser.add_argument(name)
    compatflags.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_the_port_is_off_unless_asked_for_and_needs_both_allow_lists_and_a_certificate() -> None:
    assert compatflags.compat_port(parse(), "us-east-1", None) is None
    with pytest.raises(SystemExit, match="need --appmesh-compat-port"):
        compatflags.compat_port(parse("--appmesh-compat-nodes", "mesh/*"), "us-east-1", None)
    tls = ("--tls-cert", "server.pem", "--tls-key", "server-key.pem")
    with pytest.raises(SystemExit, match="needs node patterns"):
        compatflags.compat_port(parse("--appmesh-compat-port", "18443", "--appmesh-compat-cidr", "10.0.0.0/8", *tls),
                                "us-east-1", None)  # fmt: skip
    with pytest.raises(SystemExit, match="needs source networks"):
        compatflags.compat_port(parse("--appmesh-compat-port", "18443", "--appmesh-compat-nodes", "mesh/*", *tls),
                                "us-east-1", None)  # fmt: skip
    allow = ("--appmesh-compat-nodes", "mesh/*", "--appmesh-compat-cidr")
    with pytest.raises(SystemExit, match="serves TLS"):
        compatflags.compat_port(parse("--appmesh-compat-port", "18443", *allow, "10.0.0.0/8"), "us-east-1", None)
    with pytest.raises(SystemExit, match="must be a path pattern"):
        compatflags.compat_port(parse("--appmesh-compat-port", "18443", "--appmesh-compat-nodes", "arn:aws:appmesh:*",
                                      "--appmesh-compat-cidr", "10.0.0.0/8", *tls), "us-east-1", None)  # fmt: skip
    with pytest.raises(SystemExit, match="serves TLS"):
        compatflags.compat_port(parse("--appmesh-compat-port", "18443", *allow, "10.0.0.0/8", "--tls-cert", "a.pem"),
                                "us-east-1", None)  # fmt: skip
    with pytest.raises(SystemExit, match=r"10\.0\.0\.0/33' is not"):
        compatflags.compat_port(parse("--appmesh-compat-port", "18443", *allow, "10.0.0.0/33", *tls), "us-east-1", None)
    port = compatflags.compat_port(parse("--appmesh-compat-port", "18443", *allow, "10.0.0.0/8", *tls), "eu-west-1",
                                   None)  # fmt: skip
    assert port.port == 18443 and port.tls is None
    policy = port.admission.policy
    assert (policy.region, policy.signing_name, policy.max_skew) == ("eu-west-1", "appmesh", dt.timedelta(minutes=5))
