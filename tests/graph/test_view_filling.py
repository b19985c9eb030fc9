"""The view's records are filled by their own `__init__` (`graph.view._filled_directly`), slotted or not,
and behave as the frozen dataclasses they are declared as."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from meshplane.graph.view import IngressListener, ProxyView, RouteView, ServicePort, Target, Upstream
from meshplane.model.ids import Kind, ProxyId


def _route() -> RouteView:
    return RouteView("default", 0, "http", None, (Target("cds_egress_m_b_http_8080", 100),))


SLOTTED: dict[str, Callable[[], Any]] = {
    "target": lambda: Target("cds_egress_m_b_http_8080", 100),
    "route": _route,
    "service port": lambda: ServicePort("b.local", 8080, "http", (_route(),)),
    "ingress listener": lambda: IngressListener(8080, "http", "cds_ingress_m_a_http_8080", None, None, None),
    "upstream": lambda: Upstream("cds_egress_m_b_http_8080", "b", 8080, "http", None, None, None, None, None),
}


@pytest.mark.parametrize("make", SLOTTED.values(), ids=SLOTTED.keys())
def test_a_slotted_record_holds_every_field_in_its_slots_and_stays_frozen(make: Callable[[], Any]) -> None:
    record = make()
    assert not hasattr(record, "__dict__")
    for field in dataclasses.fields(record):
        getattr(record, field.name)  # every field, given, defaulted or derived, is set
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.__setattr__(dataclasses.fields(record)[0].name, None)
    assert record == make() and hash(record) == hash(make())


def test_defaults_and_keywords_fill_a_slotted_record_as_the_dataclass_declares_them() -> None:
    route = RouteView(name="r", priority=3, protocol="grpc", spec=None, targets=(), mirror_cluster="m")
    assert (route.fault, route.hash_headers, route.mirror_cluster) == (None, (), "m")
    assert dataclasses.replace(route, priority=4) == RouteView("r", 4, "grpc", None, (), mirror_cluster="m")


def test_a_record_with_once_computed_scans_keeps_its_dict() -> None:
    view = ProxyView(ProxyId("m", Kind.VIRTUAL_NODE, "a"), (), (ServicePort("b.local", 8080, "http", (_route(),)),),
                     (), False, None)  # fmt: skip
    assert view.is_gateway is False
    assert list(view.http_groups) == [8080]
    assert "http_groups" in vars(view)  # computed once, then read from the dict
