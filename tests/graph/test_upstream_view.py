"""An upstream carries what the translator reads of its discovery, derived when it is made (`graph.view`)."""

from __future__ import annotations

import dataclasses

import pytest
from meshplane.graph.view import Upstream
from meshplane.model import shapes

CLOUD_MAP = shapes.ServiceDiscovery.model_validate({"awsCloudMap": {
    "namespaceName": "local", "serviceName": "b", "attributes": [{"key": "stage", "value": "prod"},
                                                                 {"key": "zone", "value": "a"}]}})  # fmt: skip
DNS = shapes.ServiceDiscovery.model_validate({"dns": {"hostname": "b.example.com"}})


def _upstream(discovery: shapes.ServiceDiscovery | None) -> Upstream:
    return Upstream(cluster="cds_egress_m_b_http_8080", node="b", port=8080, protocol="http", discovery=discovery,
                    ip_preference=None, health_check=None, outlier_detection=None, tls=None)  # fmt: skip


@pytest.mark.parametrize(
    ("discovery", "uses_endpoints", "attribute_filter"),
    [(None, True, ()), (CLOUD_MAP, True, (("stage", "prod"), ("zone", "a"))), (DNS, False, ())],
    ids=["registered", "cloud-map", "dns"],
)
def test_an_upstream_knows_whether_its_instances_come_by_eds_and_which_attributes_they_must_match(
    discovery: shapes.ServiceDiscovery | None, uses_endpoints: bool, attribute_filter: tuple[tuple[str, str], ...]
) -> None:
    upstream = _upstream(discovery)
    assert (upstream.uses_endpoints, upstream.attribute_filter) == (uses_endpoints, attribute_filter)


def test_a_replaced_discovery_derives_them_again_and_they_are_not_arguments() -> None:
    moved = dataclasses.replace(_upstream(CLOUD_MAP), discovery=DNS)
    assert (moved.uses_endpoints, moved.attribute_filter) == (False, ())
    assert moved == _upstream(DNS)
    with pytest.raises(TypeError):
        Upstream(cluster="c", node="b", port=1, protocol="http", discovery=None, ip_preference=None,
                 health_check=None, outlier_detection=None, tls=None, uses_endpoints=False)  # type: ignore[call-arg]
