"""Which Cloud Map services had instances registered or deregistered in a window of time.

Cloud Map records every `RegisterInstance` and `DeregisterInstance` as an operation, so one
`ListOperations` call filtered by `UPDATE_DATE` and `TYPE` names what changed since the
reconcile's last pass, and `GetOperation` names each one's service.  Neither is a discovery
call (Cloud Map bills `DiscoverInstances` and `DiscoverInstancesRevision`), so a pass in
which nothing was registered costs no billed Cloud Map request at all.

Health changes are not operations: `UpdateInstanceCustomHealthStatus` reaches the event
handler through CloudTrail, and the reconcile's sweep re-reads every service
(`pipeline.reconcile`).
"""

from __future__ import annotations

from typing import Any

INSTANCE_OPERATIONS = ("REGISTER_INSTANCE", "DEREGISTER_INSTANCE")
PAGE_SIZE = 100  # ListOperations' largest MaxResults


def changed_services(servicediscovery: Any, since: float, until: float) -> set[str]:
    """Ids of the services with an instance operation updated between `since` and `until` (epoch seconds)."""
    filters = [
        {"Name": "UPDATE_DATE", "Values": [str(int(since)), str(int(until) + 1)], "Condition": "BETWEEN"},
        {"Name": "TYPE", "Values": list(INSTANCE_OPERATIONS), "Condition": "IN"},
    ]
    services: set[str] = set()
    # Cloud Map filters each page of MaxResults operations after reading it, so a page can come back empty with
    # more to follow: the paginator follows NextToken to the end (these calls are not billed)
    pages = servicediscovery.get_paginator("list_operations").paginate(Filters=filters,
                                                                       PaginationConfig={"PageSize": PAGE_SIZE})
    for page in pages:
        for summary in page.get("Operations", []):
            operation = servicediscovery.get_operation(OperationId=summary["Id"])["Operation"]
            service = operation.get("Targets", {}).get("SERVICE")
            if service:
                services.add(service)
    return services
