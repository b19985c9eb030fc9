"""`sds` certificates: the bootstrap defines App Mesh's local SDS cluster on a Unix socket, and Envoy
fetches a certificate through it and terminates TLS with it."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from delivery.sds_server import SdsServer, tls_secret
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.extensions.filters.http.router.v3.router_pb2 import Router
from envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2 import (
    HttpConnectionManager,
)
from envoy.extensions.transport_sockets.tls.v3.secret_pb2 import SdsSecretConfig
from envoy.extensions.transport_sockets.tls.v3.tls_pb2 import DownstreamTlsContext
from google.protobuf import json_format
from meshplane.translate.tls import LOCAL_SDS_CLUSTER, local_sds
from support import EnvoyRunner, TestCA, wait_until
from support.fixtures import envoy_runner
from support.ports import free_port

from .test_bootstrap import NODE, bootstrap, envoy_validates

pytestmark = pytest.mark.envoy
__all__ = ["envoy_runner"]
SECRET = "spiffe://shop.test/web"


def sds_bootstrap(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    from meshplane.delivery.agent import FileWriter
    from meshplane.snapshot.snapshot import Snapshot

    xds = tmp_path / "xds"
    FileWriter(xds).write(Snapshot.build(NODE, {}))  # file mode: Envoy checks the watched files exist
    result = bootstrap("--node-id", NODE, "--mode", "file", "--file-dir", str(xds), *args, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def sds_cluster(document: dict[str, Any]) -> dict[str, Any]:
    clusters = {c["name"]: c for c in document["static_resources"]["clusters"]}
    return clusters[LOCAL_SDS_CLUSTER]


def tls_listener(port: int) -> dict[str, Any]:
    """A listener whose certificate is the `sds` secret, referenced exactly as the translator does."""
    tls = DownstreamTlsContext()
    tls.common_tls_context.tls_certificate_sds_secret_configs.append(
        SdsSecretConfig(name=SECRET, sds_config=local_sds())
    )
    manager = HttpConnectionManager(stat_prefix="sds_test")
    route = manager.route_config.virtual_hosts.add(name="all", domains=["*"]).routes.add()
    route.match.prefix = "/"
    route.direct_response.status = 200
    route.direct_response.body.inline_string = "served over SDS TLS"
    manager.http_filters.add(name="envoy.filters.http.router").typed_config.Pack(Router())
    listener = Listener(name="sds_tls")
    listener.address.socket_address.address, listener.address.socket_address.port_value = "127.0.0.1", port
    chain = listener.filter_chains.add()
    chain.transport_socket.name = "envoy.transport_sockets.tls"
    chain.transport_socket.typed_config.Pack(tls)
    hcm = chain.filters.add(name="envoy.filters.network.http_connection_manager")
    hcm.typed_config.Pack(manager)
    return json_format.MessageToDict(listener, preserving_proto_field_name=True)


def test_the_sds_socket_from_the_app_mesh_variable_becomes_an_http2_pipe_cluster(tmp_path: Path) -> None:
    document = sds_bootstrap(tmp_path, env={"APPMESH_SDS_SOCKET_PATH": "/run/spire/sockets/agent.sock"})
    cluster = sds_cluster(document)
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address == {"pipe": {"path": "/run/spire/sockets/agent.sock"}}
    options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert "http2_protocol_options" in options["explicit_http_config"]
    envoy_validates(json.dumps(document), tmp_path)


def test_without_an_sds_socket_there_is_no_sds_cluster(tmp_path: Path) -> None:
    document = sds_bootstrap(tmp_path)
    clusters = document.get("static_resources", {}).get("clusters", [])  # file mode has no static cluster at all
    assert LOCAL_SDS_CLUSTER not in {c["name"] for c in clusters}


def test_envoy_gets_its_certificate_from_the_sds_socket_and_terminates_tls_with_it(
    tmp_path: Path, envoy_runner: EnvoyRunner
) -> None:
    ca = TestCA(tmp_path / "pki")
    leaf = ca.issue("web.shop.test", dns=("web.shop.test",), uris=(SECRET,))
    secret = tls_secret(SECRET, leaf.chain.read_bytes(), leaf.key.read_bytes())
    with SdsServer({SECRET: secret}) as sds:
        document = sds_bootstrap(tmp_path, "--sds-socket", str(sds.socket), "--admin-port", "0")
        port = free_port()
        document["static_resources"]["listeners"] = [tls_listener(port)]
        envoy_validates(json.dumps(document), tmp_path)
        envoy_runner.start(document, name="sds")

        wait_until(lambda: SECRET in sds.servicer.served, 20, what="Envoy to fetch the secret over SDS")
        context = ssl.create_default_context(cafile=str(ca.cert_path))
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        with context.wrap_socket(raw, server_hostname="web.shop.test") as tls:  # the handshake checks the chain
            peer = tls.getpeercert()
            tls.sendall(b"GET / HTTP/1.1\r\nHost: web.shop.test\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := tls.recv(4096):
                reply += chunk
    assert dict(x[0] for x in peer["subject"])["commonName"] == "web.shop.test"
    assert ("URI", SECRET) in peer["subjectAltName"]
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"served over SDS TLS")
