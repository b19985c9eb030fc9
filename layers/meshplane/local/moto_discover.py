"""Cloud Map's DiscoverInstances in the emulator finds its service by name, not by reading every service.

moto's `discover_instances` looks its service up by comparing the name and namespace of
every service of the account, so each call costs the whole registry: a reconcile sweep of
a mesh of 10,000 nodes makes 10,000 calls over 10,000 services. Here, while moto answers a
DiscoverInstances, `list_services` hands it the services of that name alone, in moto's own
order (an index by name, dropped whenever moto creates or deletes a service); moto's own code
still matches the namespace and does the rest.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from typing import Any

_INSTALLED = "_meshplane_by_name"
_discovering = threading.local()  # the service name moto's discover_instances looks for on this thread
MOTO: dict[str, Callable[..., Any]] = {}  # moto's own methods this replaces, once installed
CHANGES = ("create_service", "delete_service")  # the backend's only writers of `services`
INDEX = "_meshplane_services_by_name"  # the backend's attribute holding its index while it is current


def services_named(services: dict[str, Any], index: dict[str, list[Any]], name: str) -> list[Any]:
    """The services called `name`, in the registry's order, from `index` (filled from `services` if empty)."""
    if not index:
        for service in services.values():
            index.setdefault(service.name, []).append(service)
    return [s for s in index.get(name, []) if s.name == name and services.get(s.id) is s]


def install() -> None:
    from moto.servicediscovery.models import ServiceDiscoveryBackend

    if getattr(ServiceDiscoveryBackend.discover_instances, _INSTALLED, False):
        return
    MOTO.update(list_services=ServiceDiscoveryBackend.list_services,
                discover_instances=ServiceDiscoveryBackend.discover_instances,
                **{name: getattr(ServiceDiscoveryBackend, name) for name in CHANGES})
    lock = threading.Lock()

    @functools.wraps(MOTO["list_services"])
    def list_services(self: Any) -> Iterable[Any]:
        name = getattr(_discovering, "name", None)
        if name is None:
            listed: Iterable[Any] = MOTO["list_services"](self)
            return listed
        with lock:
            return services_named(self.services, self.__dict__.setdefault(INDEX, {}), name)

    def changing(name: str) -> Callable[..., Any]:
        @functools.wraps(MOTO[name])
        def change(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return MOTO[name](self, *args, **kwargs)
            finally:
                with lock:
                    self.__dict__.pop(INDEX, None)

        return change

    @functools.wraps(MOTO["discover_instances"])
    def discover_instances(self: Any, namespace_name: str, service_name: str, *args: Any, **kwargs: Any) -> Any:
        _discovering.name = service_name
        try:
            return MOTO["discover_instances"](self, namespace_name, service_name, *args, **kwargs)
        finally:
            _discovering.name = None

    setattr(discover_instances, _INSTALLED, True)
    ServiceDiscoveryBackend.list_services = list_services  # type: ignore[method-assign]
    ServiceDiscoveryBackend.discover_instances = discover_instances  # type: ignore[method-assign]
    for name in CHANGES:
        setattr(ServiceDiscoveryBackend, name, changing(name))
