"""A warm container maps a Cloud Map service id to its names once: the names of an id never change."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshplane.pipeline.directory import Directory
from meshplane.pipeline.ecs_mapping import CloudMapNames, TaskMapper


class ServiceNotFound(Exception):
    pass


class NamespaceNotFound(Exception):
    pass


class CountingCloudMap:
    """GetService and GetNamespace as Cloud Map answers them, every call recorded."""

    class exceptions:
        ServiceNotFound = ServiceNotFound
        NamespaceNotFound = NamespaceNotFound

    def __init__(self, services: dict[str, tuple[str, str]]) -> None:
        self.services = services  # id -> (namespace name, service name)
        self.calls: list[str] = []

    def get_service(self, Id: str) -> dict[str, Any]:
        self.calls.append(f"GetService {Id}")
        if Id not in self.services:
            raise ServiceNotFound(Id)
        return {"Service": {"Id": Id, "Name": self.services[Id][1], "NamespaceId": f"ns-of-{Id}"}}

    def get_namespace(self, Id: str) -> dict[str, Any]:
        self.calls.append(f"GetNamespace {Id}")
        return {"Namespace": {"Id": Id, "Name": self.services[Id.removeprefix("ns-of-")][0]}}


def _one_service() -> CountingCloudMap:
    return CountingCloudMap({"srv-1": ("shop.local", "cart")})


@dataclass
class Clients:
    servicediscovery: CountingCloudMap = field(default_factory=_one_service)


def test_a_second_invocation_maps_a_known_service_id_without_asking_cloud_map() -> None:
    clients, names = Clients(), CloudMapNames()
    first = TaskMapper(Directory(), clients, names).cloud_map_service("srv-1")  # type: ignore[arg-type]
    asked = list(clients.servicediscovery.calls)
    second = TaskMapper(Directory(), clients, names).cloud_map_service("srv-1")  # type: ignore[arg-type]
    assert first == second == ("shop.local", "cart")
    assert asked == ["GetService srv-1", "GetNamespace ns-of-srv-1"]
    assert clients.servicediscovery.calls == asked


def test_an_id_that_names_nothing_is_asked_again_and_found_once_created() -> None:
    clients, names = Clients(), CloudMapNames()
    assert TaskMapper(Directory(), clients, names).cloud_map_service("srv-2") is None  # type: ignore[arg-type]
    clients.servicediscovery.services["srv-2"] = ("shop.local", "pay")
    assert TaskMapper(Directory(), clients, names).cloud_map_service("srv-2") == ("shop.local", "pay")  # type: ignore[arg-type]
    assert clients.servicediscovery.calls.count("GetService srv-2") == 2


def test_without_a_container_cache_every_mapper_asks_for_itself() -> None:
    clients = Clients()
    for _ in range(2):
        assert TaskMapper(Directory(), clients).cloud_map_service("srv-1") == ("shop.local", "cart")  # type: ignore[arg-type]
    assert clients.servicediscovery.calls.count("GetService srv-1") == 2
