"""Cloud Map's ListOperations in the local emulator as AWS answers it: filtered, and listing instance operations.

The reconcile asks Cloud Map which services changed since its last pass with one
`ListOperations` call (`Filters`: `UPDATE_DATE` BETWEEN two times, `TYPE` IN the instance
operations), then `GetOperation` for each operation's `SERVICE` target.  moto differs from
AWS three ways, corrected here:
- it ignores `Filters` and lists every operation ever made;
- it drops every operation whose targets name no namespace, so instance operations are
  never listed;
- `RegisterInstance` and `DeregisterInstance` operations name only their `INSTANCE`, where
  AWS names the `SERVICE` too.
Pagination stays moto's (none): every matching operation comes in one page.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from typing import Any

_INSTALLED = "_meshplane_operations"
INSTANCE_CALLS = ("register_instance", "deregister_instance")


def install() -> None:
    from moto.servicediscovery.models import ServiceDiscoveryBackend
    from moto.servicediscovery.responses import ServiceDiscoveryResponse

    if getattr(ServiceDiscoveryResponse.list_operations, _INSTALLED, False):
        return
    for method in INSTANCE_CALLS:
        setattr(ServiceDiscoveryBackend, method, _naming_service(getattr(ServiceDiscoveryBackend, method)))
    setattr(ServiceDiscoveryResponse, "list_operations", _filtered)  # noqa: B010  # replaces moto's handler


def _naming_service(call: Callable[..., str]) -> Callable[..., str]:
    @functools.wraps(call)
    def named(backend: Any, service_id: str, *args: Any, **kwargs: Any) -> str:
        operation_id = call(backend, service_id, *args, **kwargs)
        backend.operations[operation_id].targets["SERVICE"] = service_id
        return operation_id

    return named


def _seconds(value: Any) -> float:
    """A filter's time (epoch seconds, as the reconcile sends them, or an ISO 8601 moment), or an operation's:
    epoch seconds in moto up to 5.2.5, a naive UTC datetime in later ones."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    try:
        return float(value)
    except ValueError:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def matches(operation: Any, filters: list[dict[str, Any]]) -> bool:
    """Whether one moto `Operation` passes every filter (AWS ANDs them)."""
    fields = {"TYPE": operation.operation_type, "STATUS": operation.status,
              "NAMESPACE_ID": operation.targets.get("NAMESPACE"), "SERVICE_ID": operation.targets.get("SERVICE")}
    for entry in filters:
        name, values = entry["Name"], list(entry.get("Values", []))
        if name == "UPDATE_DATE":
            low, high = (_seconds(v) for v in values[:2])
            if not low <= _seconds(operation.updated) <= high:
                return False
        elif fields.get(name) not in values:
            return False
    return True


def _filtered(handler: Any) -> tuple[int, dict[str, str], str]:
    filters = json.loads(handler.body or "{}").get("Filters", [])
    operations = handler.servicediscovery_backend.operations.values()
    listed = [{"Id": o.id, "Status": o.status} for o in operations if matches(o, filters)]  # AWS's summary
    return 200, {}, json.dumps({"Operations": listed})


setattr(_filtered, _INSTALLED, True)
