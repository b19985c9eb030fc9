"""Snapshot validators run before publishing: the translator's consistency check and real Envoy.

The Envoy check turns the snapshot into a static bootstrap and runs
`envoy --mode validate`: EDS clusters get their ClusterLoadAssignment inline, RDS
listeners their RouteConfiguration inline, and secrets become static secrets, so
every one of the five types is checked by Envoy itself.  ADS references that
remain (SDS) point at a placeholder ADS cluster that validate mode never dials.
It runs wherever an `envoy` binary is found (locally, in tests); Lambda has none
and relies on the consistency check.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from meshplane.pipeline.ports import Validator, consistency_validator
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType

HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ADS_CLUSTER = "meshplane_validate_ads"


def static_bootstrap(snapshot: Snapshot) -> dict[str, Any]:
    """A bootstrap (as JSON-ready dict) holding every resource of the snapshot statically."""
    from envoy.config.bootstrap.v3.bootstrap_pb2 import Bootstrap
    from envoy.config.cluster.v3.cluster_pb2 import Cluster
    from envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2 import (
        HttpConnectionManager,
    )

    bootstrap = Bootstrap()
    bootstrap.node.id = snapshot.node_id
    bootstrap.node.cluster = snapshot.node_id
    assignments = snapshot.of(XdsType.ENDPOINTS)
    for name, cluster in sorted(snapshot.of(XdsType.CLUSTERS).items()):
        out = bootstrap.static_resources.clusters.add()
        out.CopyFrom(cluster)
        if out.type == Cluster.EDS:
            service = out.eds_cluster_config.service_name or name
            out.ClearField("eds_cluster_config")
            out.type = Cluster.STATIC
            if service in assignments:
                out.load_assignment.CopyFrom(assignments[service])
            out.load_assignment.cluster_name = name
    routes = snapshot.of(XdsType.ROUTES)
    for _, listener in sorted(snapshot.of(XdsType.LISTENERS).items()):
        out = bootstrap.static_resources.listeners.add()
        out.CopyFrom(listener)
        chains = list(out.filter_chains) + ([out.default_filter_chain] if out.HasField("default_filter_chain") else [])
        for chain in chains:
            for network_filter in chain.filters:
                if network_filter.typed_config.type_url != HCM_TYPE:
                    continue
                hcm = HttpConnectionManager()
                network_filter.typed_config.Unpack(hcm)
                if hcm.HasField("rds") and hcm.rds.route_config_name in routes:
                    hcm.route_config.CopyFrom(routes[hcm.rds.route_config_name])
                network_filter.typed_config.Pack(hcm)
    for _, secret in sorted(snapshot.of(XdsType.SECRETS).items()):
        bootstrap.static_resources.secrets.add().CopyFrom(secret)
    ads = bootstrap.static_resources.clusters.add()
    ads.name = ADS_CLUSTER
    ads.type = Cluster.STATIC
    ads.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].Pack(
        _http2_options()
    )
    endpoint = ads.load_assignment.endpoints.add().lb_endpoints.add().endpoint
    endpoint.address.socket_address.address = "127.0.0.1"
    endpoint.address.socket_address.port_value = 1
    ads.load_assignment.cluster_name = ADS_CLUSTER
    config = bootstrap.dynamic_resources.ads_config
    config.api_type = config.GRPC
    config.transport_api_version = 2  # V3
    config.grpc_services.add().envoy_grpc.cluster_name = ADS_CLUSTER
    return json_format.MessageToDict(bootstrap, preserving_proto_field_name=True)


def _http2_options() -> Message:
    from envoy.extensions.upstreams.http.v3.http_protocol_options_pb2 import HttpProtocolOptions

    options = HttpProtocolOptions()
    options.explicit_http_config.http2_protocol_options.SetInParent()
    return options


def envoy_validator(binary: str, timeout: float = 60) -> Validator:
    """A validator that asks the Envoy at `binary` whether it would accept the snapshot."""

    def envoy(snapshot: Snapshot) -> list[str]:
        with tempfile.TemporaryDirectory(prefix="meshplane-validate-") as workdir:
            path = Path(workdir) / "bootstrap.json"
            path.write_text(json.dumps(static_bootstrap(snapshot)))
            result = subprocess.run(
                [binary, "--mode", "validate", "-c", str(path), "-l", "error", "--use-dynamic-base-id"],
                capture_output=True, text=True, timeout=timeout, check=False,
            )
        if result.returncode == 0:
            return []
        return [f"envoy rejected the snapshot: {(result.stdout + result.stderr).strip()[-2000:]}"]

    return envoy


def find_envoy() -> str | None:
    """`MESHPLANE_ENVOY` if set, else `envoy` on PATH."""
    return os.environ.get("MESHPLANE_ENVOY") or shutil.which("envoy")


def default_validators(find: Callable[[], str | None] = find_envoy) -> list[Validator]:
    validators: list[Validator] = []
    if importlib.util.find_spec("meshplane.snapshot.consistency") is not None:
        validators.append(consistency_validator)
    binary = find()
    if binary:
        validators.append(envoy_validator(binary))
    return validators
