"""Cloud Map instance calls in the local emulator put the EventBridge event CloudTrail would.

In AWS, a CloudTrail trail turns servicediscovery `RegisterInstance`, `DeregisterInstance`
and `UpdateInstanceCustomHealthStatus` calls into "AWS API Call via CloudTrail" events on
the default bus, where the stack's Cloud Map rule sends them to the cloudmap_events queue.
moto records no CloudTrail, so without this only the scheduled reconcile would see a
registration, a minute later. Each successful call here puts the event CloudTrail would
(shaped as `events/cloudmap_register_instance.json`) on the default bus of the caller's
account and region, from inside the call, so the rule, queue and handler that run in AWS
run locally too. Failed calls put nothing: the handler would only re-read the service.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

SOURCE = "aws.servicediscovery"
DETAIL_TYPE = "AWS API Call via CloudTrail"
CALLS = {  # moto's handler method -> CloudTrail eventName
    "register_instance": "RegisterInstance",
    "deregister_instance": "DeregisterInstance",
    "update_instance_custom_health_status": "UpdateInstanceCustomHealthStatus",
}
_INSTALLED = "_meshplane_cloudtrail"
_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")


def install() -> None:
    from moto.servicediscovery.responses import ServiceDiscoveryResponse

    for method, event_name in CALLS.items():
        action = getattr(ServiceDiscoveryResponse, method)
        if not getattr(action, _INSTALLED, False):
            setattr(ServiceDiscoveryResponse, method, _recorded(action, event_name))


def _recorded(action: Callable[[Any], str], event_name: str) -> Callable[[Any], str]:
    @functools.wraps(action)
    def call(handler: Any) -> str:
        response = action(handler)  # a failed call raises: no event
        _put(handler, record(handler, event_name, json.loads(handler.body or "{}"), _answered(response)))
        return response

    setattr(call, _INSTALLED, True)
    return call


def _answered(response: Any) -> dict[str, Any]:
    """What a handler answered: the JSON body moto up to 5.2.5 returns, or the `ActionResult` later ones return."""
    if isinstance(response, str | bytes):
        return dict(json.loads(response or "{}"))
    result = getattr(response, "result", None)
    return dict(result) if isinstance(result, dict) else {}


def record(handler: Any, event_name: str, request: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """The `detail` of the CloudTrail event: camelCase request parameters, as CloudTrail writes them."""
    account, headers = handler.current_account, handler.headers
    access_key = _ACCESS_KEY.search(headers.get("Authorization", ""))
    environ = getattr(getattr(handler, "normalized_request", None), "environ", None) or {}
    return {
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "accountId": account, "accessKeyId": access_key[1] if access_key else ""},
        "eventTime": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "servicediscovery.amazonaws.com",
        "eventName": event_name,
        "awsRegion": handler.region,
        "sourceIPAddress": environ.get("REMOTE_ADDR", "127.0.0.1"),
        "userAgent": headers.get("User-Agent", ""),
        "requestParameters": {key[:1].lower() + key[1:]: value for key, value in request.items()},
        "responseElements": {"operationId": response["OperationId"]} if "OperationId" in response else None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }


def _put(handler: Any, detail: dict[str, Any]) -> None:
    from moto.events.models import events_backends

    bus = events_backends[handler.current_account][handler.region]
    bus.put_events([{"Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": json.dumps(detail)}])
