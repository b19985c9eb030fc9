"""DiscoverInstances by service name (`moto_discover`) answers every call as moto does, as services come and go."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from meshplane.local import moto_discover
from moto import mock_aws
from moto.servicediscovery.models import ServiceDiscoveryBackend


def _namespace(sd: Any, name: str) -> str:
    sd.create_http_namespace(Name=name)
    return next(n["Id"] for n in sd.list_namespaces()["Namespaces"] if n["Name"] == name)


@pytest.fixture
def sd(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("servicediscovery", region_name="us-east-1")


def _discover_all(sd: Any, queries: list[tuple[str, str]]) -> list[Any]:
    answers: list[Any] = []
    for namespace, service in queries:
        try:
            found = sd.discover_instances(NamespaceName=namespace, ServiceName=service)
            answers.append(sorted((i["InstanceId"], i["ServiceName"], i["NamespaceName"], i["HealthStatus"])
                                  for i in found["Instances"]))
        except sd.exceptions.ClientError as exc:
            answers.append(exc.response["Error"]["Code"])
    return answers


def _register(sd: Any, namespace: str, name: str, instances: int) -> str:
    service = sd.create_service(Name=name, NamespaceId=namespace)["Service"]["Id"]
    for n in range(instances):
        sd.register_instance(ServiceId=service, InstanceId=f"{name}-{n}",
                             Attributes={"AWS_INSTANCE_IPV4": f"10.0.0.{n + 1}"})
    return service


QUERIES = [("one.local", "a"), ("two.local", "a"), ("one.local", "b"), ("two.local", "b"), ("one.local", "c"),
           ("one.local", "gone"), ("nowhere.local", "a")]


def test_every_discovery_answers_as_moto_does_while_services_change(
    sd: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto_discover.install()
    one, two = _namespace(sd, "one.local"), _namespace(sd, "two.local")
    _register(sd, one, "a", 2)
    _register(sd, two, "a", 3)  # the same name in another namespace
    _register(sd, one, "b", 1)
    gone = _register(sd, one, "gone", 1)
    patched = [_discover_all(sd, QUERIES)]
    for instance in ("gone-0",):
        sd.deregister_instance(ServiceId=gone, InstanceId=instance)
    sd.delete_service(Id=gone)
    _register(sd, one, "c", 2)  # one service gone and another made: the registry's size is unchanged
    _register(sd, two, "b", 1)
    patched.append(_discover_all(sd, QUERIES))
    monkeypatch.setattr(ServiceDiscoveryBackend, "list_services", moto_discover.MOTO["list_services"])
    monkeypatch.setattr(ServiceDiscoveryBackend, "discover_instances", moto_discover.MOTO["discover_instances"])
    assert patched[1] == _discover_all(sd, QUERIES)
    assert patched[0][5] == [("gone-0", "gone", "one.local", "HEALTHY")]
    assert patched[1][4] == [("c-0", "c", "one.local", "HEALTHY"), ("c-1", "c", "one.local", "HEALTHY")]
    assert patched[1][5] == "ServiceNotFound" and patched[1][6] == "NamespaceNotFound"


def test_a_discovery_reads_the_services_of_its_name_alone(sd: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.servicediscovery.models import servicediscovery_backends

    moto_discover.install()
    one = _namespace(sd, "one.local")
    for n in range(20):
        _register(sd, one, f"s{n}", 1)
    backend = servicediscovery_backends["123456789012"]["us-east-1"]
    handed: list[list[str]] = []
    original = moto_discover.services_named

    def recorded(services: dict[str, Any], index: dict[str, list[Any]], name: str) -> list[Any]:
        found = original(services, index, name)
        handed.append([s.name for s in found])
        return found

    monkeypatch.setattr(moto_discover, "services_named", recorded)
    found = sd.discover_instances(NamespaceName="one.local", ServiceName="s7")["Instances"]
    assert [i["InstanceId"] for i in found] == ["s7-0"]
    assert handed == [["s7"]]
    assert len(list(backend.list_services())) == 20  # outside a discovery, moto's whole listing
