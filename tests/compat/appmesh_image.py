"""The App Mesh Envoy image's bootstrap, rendered from its environment as ../shared/appmesh-envoy-image.md states it.

Only the parts that decide how Envoy reaches and identifies itself to the ADS are rendered:
node, admin, and the dynamic resources with their Google gRPC ADS service (TLS rooted in
the system CA bundle, `envoy.grpc_credentials.aws_iam` call credentials, the image's channel
args). Tracing and stats sections never touch the ADS and are left out.

Envoy 1.40 no longer has `envoy.grpc_credentials.aws_iam` (deprecated in 1.33, "deleted no
later than 1.35"; the binary knows only the `default` and `file_based_metadata` credential
factories, and `--mode validate` refuses `AwsIamConfig`). `for_envoy_140` drops that one
extension and, so the server still sees what the plugin would send, puts the SigV4 metadata
botocore computes for the same request (`sign_ads_call`) into the service's `initial_metadata`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

SYSTEM_CA_BUNDLE = "/etc/pki/tls/cert.pem"
AWS_IAM = "envoy.grpc_credentials.aws_iam"
AWS_IAM_CONFIG = "type.googleapis.com/envoy.config.grpc_credential.v3.AwsIamConfig"
ADS_METHOD = "envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
CHANNEL_ARGS = {
    "grpc.http2.max_pings_without_data": 0,
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.initial_reconnect_backoff_ms": 10_000,
    "grpc.max_connection_age_ms": 2_400_000,
    "grpc.max_connection_age_grace_ms": 5_000,
}


def render(env: Mapping[str, str], *, ca_bundle: str = SYSTEM_CA_BUNDLE) -> dict[str, Any]:
    """The image's bootstrap for this environment (`ca_bundle` stands in for the system CA bundle)."""
    region = env["AWS_REGION"]
    endpoint = env.get("APPMESH_XDS_ENDPOINT") or f"appmesh-envoy-management.{region}.amazonaws.com:443"
    signing_name = env.get("APPMESH_SIGNING_NAME") or "appmesh"
    node_id = env.get("APPMESH_RESOURCE_ARN") or env.get("APPMESH_RESOURCE_NAME") or env["APPMESH_VIRTUAL_NODE_NAME"]
    node: dict[str, Any] = {"id": node_id}
    cluster = env.get("APPMESH_RESOURCE_CLUSTER") or env.get("APPMESH_VIRTUAL_NODE_CLUSTER")
    if cluster:
        node["cluster"] = cluster
    config_source = {"ads": {}, "resource_api_version": "V3",
                     "initial_fetch_timeout": f"{int(env.get('ENVOY_INITIAL_FETCH_TIMEOUT', '0'))}s"}  # fmt: skip
    google_grpc = {
        "target_uri": endpoint,
        "stat_prefix": "ads",
        "channel_credentials": {"ssl_credentials": {"root_certs": {"filename": ca_bundle}}},
        "credentials_factory_name": AWS_IAM,
        "call_credentials": [{"from_plugin": {"name": AWS_IAM, "typed_config": {
            "@type": AWS_IAM_CONFIG, "service_name": signing_name, "region": region,
        }}}],
        "channel_args": {"args": {name: {"int_value": str(value)} for name, value in CHANNEL_ARGS.items()}},
    }  # fmt: skip
    admin_log = env.get("ENVOY_ADMIN_ACCESS_LOG_FILE") or "/tmp/envoy_admin_access.log"
    admin_port = int(env.get("ENVOY_ADMIN_ACCESS_PORT", "9901"))
    file_log = {"@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", "path": admin_log}
    ads = {"api_type": "GRPC", "transport_api_version": "V3", "grpc_services": [{"google_grpc": google_grpc}]}
    return {
        "node": node,
        "admin": {
            "address": {"socket_address": {"address": "0.0.0.0", "port_value": admin_port}},  # `placed` rebinds it
            "access_log": [{"name": "envoy.access_loggers.file", "typed_config": file_log}],
        },
        "dynamic_resources": {"ads_config": ads, "lds_config": config_source,
                              "cds_config": copy.deepcopy(config_source)},
    }


def ads_service(bootstrap: Mapping[str, Any]) -> dict[str, Any]:
    return bootstrap["dynamic_resources"]["ads_config"]["grpc_services"][0]


def for_envoy_140(bootstrap: Mapping[str, Any], signed: Mapping[str, str] | None) -> dict[str, Any]:
    """Without the aws_iam plugin Envoy 1.40 lacks; `signed` (SigV4 metadata) goes in `initial_metadata` instead."""
    rendered = copy.deepcopy(dict(bootstrap))
    service = ads_service(rendered)
    google_grpc = service["google_grpc"]
    google_grpc["call_credentials"] = [c for c in google_grpc["call_credentials"]
                                       if c.get("from_plugin", {}).get("name") != AWS_IAM]  # fmt: skip
    if not google_grpc["call_credentials"]:
        del google_grpc["call_credentials"]
    if google_grpc.get("credentials_factory_name") == AWS_IAM:
        del google_grpc["credentials_factory_name"]  # the default factory builds the TLS channel
    if signed:
        service["initial_metadata"] = [{"key": key, "value": value} for key, value in signed.items()]
    return rendered


def placed(bootstrap: Mapping[str, Any], address: str) -> dict[str, Any]:
    """On a shared test host: admin on a free port of `address`, listeners rebound to it (node metadata
    BIND_ADDRESS, which meshplane's ADS honours and the image's own metadata never sets)."""
    rendered = copy.deepcopy(dict(bootstrap))
    rendered["admin"]["address"]["socket_address"] = {"address": address, "port_value": 0}
    rendered["node"].setdefault("metadata", {})["BIND_ADDRESS"] = address
    return rendered


def sign_ads_call(credentials: ReadOnlyCredentials, region: str, authority: str,
                  service: str = "appmesh") -> dict[str, str]:  # fmt: skip
    """What the aws_iam plugin adds to an ADS stream: SigV4 of `POST https://<authority>/<ADS method>`, as metadata."""
    request = AWSRequest(method="POST", url=f"https://{authority}/{ADS_METHOD}", data=b"")
    SigV4Auth(credentials, service, region).add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()
            if name.lower() in ("authorization", "x-amz-date", "x-amz-security-token")}  # fmt: skip
