"""EDS clusters written from a template (`translate.cds_wire`) are exactly what protobuf writes for them."""

from __future__ import annotations

import dataclasses

import pytest
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from meshplane.graph.view import Upstream
from meshplane.model import shapes
from meshplane.translate.cds_wire import EdsTemplate, StaticTemplate
from meshplane.translate.clusters import egress_cluster, local_cluster

PLAIN = Upstream(cluster="", node="n", port=8080, protocol="http", discovery=None, ip_preference=None,
                 health_check=None, outlier_detection=None, tls=None)


@pytest.mark.parametrize("protocol", ["http", "http2", "grpc", "tcp"])
@pytest.mark.parametrize("name", ["cds_egress_m_a_http_8080", "c" * 300])  # one- and two-byte lengths
def test_a_named_template_is_the_cluster_built_with_that_name(protocol: str, name: str) -> None:
    nameless = dataclasses.replace(PLAIN, protocol=protocol)
    built = egress_cluster(dataclasses.replace(nameless, cluster=name))
    written = EdsTemplate.of(egress_cluster(nameless)).named(name)
    assert written == built.SerializeToString(deterministic=True)


def test_a_cluster_with_a_name_or_not_over_eds_is_no_template() -> None:
    with pytest.raises(ValueError, match="without names"):
        EdsTemplate.of(egress_cluster(dataclasses.replace(PLAIN, cluster="named")))
    with pytest.raises(ValueError, match="without names"):
        EdsTemplate.of(Cluster(type=Cluster.STRICT_DNS))


POOLS = [None, shapes.VirtualNodeConnectionPool.model_validate({"http": {"maxConnections": 7}}),
         shapes.VirtualNodeConnectionPool.model_validate({"tcp": {"maxConnections": 300}})]


@pytest.mark.parametrize("protocol", ["http", "http2", "grpc", "tcp"])
@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
@pytest.mark.parametrize("name", ["cds_ingress_m_a_http_8080", "c" * 300])
def test_a_named_static_template_is_the_local_cluster_built_with_that_name(
        protocol: str, pool: shapes.VirtualNodeConnectionPool | None, host: str, name: str) -> None:
    built = local_cluster(name, 8080, protocol, pool, host)
    written = StaticTemplate.of(local_cluster("", 8080, protocol, pool, host)).named(name)
    assert written == built.SerializeToString(deterministic=True)


def test_a_named_cluster_or_one_without_an_assignment_is_no_static_template() -> None:
    with pytest.raises(ValueError, match="without names"):
        StaticTemplate.of(local_cluster("named", 8080, "http", None))
    with pytest.raises(ValueError, match="without names"):
        StaticTemplate.of(Cluster(type=Cluster.STATIC))
