"""The App Mesh image's port refuses what it can tell apart from the image: unsigned streams, signatures scoped to
another service or region or made outside ±5 minutes, nodes and source networks outside its allow-lists, keys of
another account (when asked to look); and the secure default port still refuses the same client.

Clients are raw gRPC streams over TLS trusting the test CA, without a client certificate, carrying SigV4 metadata
botocore computed for the ADS call, as the image's aws_iam plugin does."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import grpc
import pytest
from botocore.credentials import ReadOnlyCredentials
from delivery.harness import Aws
from delivery.rawclient import names, sotw
from delivery.snapshots import snapshot
from delivery.test_hostile_ads import node
from envoy.service.discovery.v3 import ads_pb2_grpc
from meshplane.snapshot.types import XdsType
from support import TestCA

from .appmesh_image import sign_ads_call
from .conftest import ACCOUNT, REGION, SERVER_NAME, task_role_credentials, user_credentials

__all__ = ["node"]  # a published node `mesh/<bucket>/virtualNode/a`
CDS = XdsType.CLUSTERS.type_url


def open_stream(address: str, ca: TestCA | bytes, node: str, metadata: dict[str, str],
                server_name: str | None = None) -> list:  # fmt: skip
    """One SotW request for the node's clusters over TLS trusting `ca`; the responses, or the RpcError raised."""
    roots = ca if isinstance(ca, bytes) else ca.cert_path.read_bytes()
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    with grpc.secure_channel(address, grpc.ssl_channel_credentials(roots), options) as channel:
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        call = stub.StreamAggregatedResources(iter([sotw(CDS, node)]), metadata=list(metadata.items()), timeout=10)
        return list(call)


def refused(address: str, ca: TestCA | bytes, node: str, metadata: dict[str, str],
            server_name: str | None = None) -> grpc.RpcError:  # fmt: skip
    with pytest.raises(grpc.RpcError) as raised:
        open_stream(address, ca, node, metadata, server_name)
    return raised.value


def signed(credentials: ReadOnlyCredentials, address: str, *, service: str = "appmesh", region: str = REGION,
           at: dt.datetime | None = None) -> dict[str, str]:  # fmt: skip
    if at is None:
        return sign_ads_call(credentials, region, address, service)
    with mock.patch("botocore.auth.get_current_datetime", return_value=at.replace(tzinfo=None)):
        return sign_ads_call(credentials, region, address, service)


@pytest.fixture
def credentials(aws: Aws) -> ReadOnlyCredentials:
    return task_role_credentials(aws)


def test_a_signed_stream_from_an_allowed_network_for_an_allowed_node_gets_its_config(
    compat_ads, test_ca, node, credentials
) -> None:
    ads = compat_ads()
    responses = open_stream(ads.compat_address, test_ca, node, signed(credentials, ads.compat_address))
    assert names(responses[0]) == ["cds_a_1", "cds_a_2"]


def test_a_stream_without_sigv4_metadata_is_unauthenticated(compat_ads, test_ca, node) -> None:
    ads = compat_ads()
    error = refused(ads.compat_address, test_ca, node, {})
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "no SigV4 authorization" in error.details()


def test_a_signature_without_its_date_is_unauthenticated(compat_ads, test_ca, node, credentials) -> None:
    ads = compat_ads()
    metadata = signed(credentials, ads.compat_address)
    del metadata["x-amz-date"]
    error = refused(ads.compat_address, test_ca, node, metadata)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED and "x-amz-date" in error.details()


@pytest.mark.parametrize(("scope", "shown"), [
    ({"service": "execute-api"}, "scoped to execute-api in us-east-1"),
    ({"region": "eu-west-1"}, "scoped to appmesh in eu-west-1"),
])  # fmt: skip
def test_a_signature_for_another_service_or_region_is_unauthenticated(compat_ads, test_ca, node, credentials,
                                                                      scope, shown) -> None:  # fmt: skip
    ads = compat_ads()
    error = refused(ads.compat_address, test_ca, node, signed(credentials, ads.compat_address, **scope))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert shown in error.details()


@pytest.mark.parametrize("minutes", [-6, 6])
def test_a_signature_dated_more_than_five_minutes_away_is_unauthenticated(compat_ads, test_ca, node, credentials,
                                                                          minutes: int) -> None:  # fmt: skip
    ads = compat_ads()
    at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    error = refused(ads.compat_address, test_ca, node, signed(credentials, ads.compat_address, at=at))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "x-amz-date" in error.details() and "at most 300s" in error.details()


def test_a_signature_four_minutes_old_is_accepted(compat_ads, test_ca, node, credentials) -> None:
    ads = compat_ads()
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=4)
    responses = open_stream(ads.compat_address, test_ca, node, signed(credentials, ads.compat_address, at=at))
    assert names(responses[0]) == ["cds_a_1", "cds_a_2"]


def test_a_node_outside_the_allow_list_is_permission_denied(compat_ads, test_ca, aws, publisher, credentials) -> None:
    ads = compat_ads(nodes=(f"mesh/{aws.bucket}/virtualNode/front-*",))
    other = f"mesh/{aws.bucket}/virtualNode/payments"
    publisher.publish(snapshot(other, "p"))
    error = refused(ads.compat_address, test_ca, other, signed(credentials, ads.compat_address))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "not among the nodes" in error.details()


def test_a_node_arn_of_another_account_is_permission_denied(compat_ads, test_ca, node, credentials) -> None:
    ads = compat_ads(nodes=("*",))
    foreign = f"arn:aws:appmesh:{REGION}:999999999999:{node}"
    error = refused(ads.compat_address, test_ca, foreign, signed(credentials, ads.compat_address))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_source_outside_the_allowed_networks_is_permission_denied(compat_ads, test_ca, node, credentials) -> None:
    ads = compat_ads(cidrs=("10.0.0.0/8", "fd00::/8"))
    error = refused(ads.compat_address, test_ca, node, signed(credentials, ads.compat_address))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "source address" in error.details()


def test_with_the_key_account_check_a_key_of_another_account_is_refused_and_ours_accepted(
    compat_ads, test_ca, aws, node
) -> None:
    ads = compat_ads(key_account=True)
    foreign = user_credentials(aws, "210987654321")
    error = refused(ads.compat_address, test_ca, node, signed(foreign, ads.compat_address))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "belongs to account 210987654321" in error.details()
    ours = user_credentials(aws, ACCOUNT)
    responses = open_stream(ads.compat_address, test_ca, node, signed(ours, ads.compat_address))
    assert names(responses[0]) == ["cds_a_1", "cds_a_2"]


def test_the_secure_default_port_refuses_the_same_signed_client_without_a_node_certificate(
    compat_ads, test_ca, node, credentials
) -> None:
    ads = compat_ads()
    default_port = ads.server.address
    metadata = signed(credentials, default_port)
    error = refused(default_port, ads.identity.ca.certificate_pem, node, metadata, server_name=SERVER_NAME)
    assert error.code() == grpc.StatusCode.UNAVAILABLE  # the TLS handshake: no client certificate
    assert ads.server.metrics().streams_total == 0


def test_without_a_certificate_of_its_own_the_port_serves_the_servers_node_ca_certificate_to_any_client(
    compat_ads, node, credentials
) -> None:
    """What an NLB TLS listener's TLS target group meets: the server's own certificate, no client certificate asked."""
    ads = compat_ads(own_certificate=True)
    metadata = signed(credentials, ads.compat_address)
    responses = open_stream(ads.compat_address, ads.identity.ca.certificate_pem, node, metadata, SERVER_NAME)
    assert names(responses[0]) == ["cds_a_1", "cds_a_2"]
