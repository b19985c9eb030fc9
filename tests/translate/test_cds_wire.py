"""EDS clusters written from a template (`translate.cds_wire`) are exactly what protobuf writes for them."""

from __future__ import annotations

import dataclasses

import pytest
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from meshplane.graph.view import Upstream
from meshplane.translate.cds_wire import EdsTemplate
from meshplane.translate.clusters import egress_cluster

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
