"""Lambda entry points of the CloudFormation macro and custom resource provider (thin `functions/*/app.py`).

The provider runs the App Mesh operations through the same `Api` and `ResourceStore` as
the API function, in process (`inprocess`), so each call is validated, authorized by the
same rules, logged and measured like an API request.  It always answers CloudFormation:
the provider turns every failure into FAILED, and a watchdog sends FAILED shortly before
the function would time out, so a stack never waits an hour for a silent provider.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from meshplane.pipeline.coldstart import first_call_without_gc

if TYPE_CHECKING:
    from meshplane.migrate.cfn_response import Response
    from meshplane.pipeline.telemetry import Telemetry

TIMEOUT_MARGIN_SECONDS = 10.0  # the watchdog answers this long before Lambda's deadline


@lru_cache(maxsize=1)
def telemetry() -> Telemetry:
    from meshplane.pipeline.telemetry import Telemetry

    return Telemetry.from_env()


@lru_cache(maxsize=1)
def appmesh_client(owner: tuple[str, str] | None) -> Any:
    """The in-process `appmesh` client of this container: the API on the stack's table.

    Both clients come from one session of the pipeline's (`wiring.aws_session`): each model is loaded
    without listing every service botocore knows, and the endpoint data they share is read once."""
    from meshplane.api.app import Api
    from meshplane.config import Settings
    from meshplane.migrate import inprocess
    from meshplane.pipeline.wiring import aws_session

    settings = Settings.from_env(owner=owner)
    session = aws_session(settings.region)
    api = Api.build(settings, session.client("dynamodb"), settings.limits, telemetry())
    return inprocess.client(api, settings.region, session)


class Responder:
    """Sends one response per request: the provider's, or the watchdog's if that comes first."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event
        self._sent = False
        self._lock = threading.Lock()

    def respond(self, response: Response) -> bool:
        """Send `response` unless one was sent; True if this call sent it."""
        from meshplane.migrate.cfn_response import send

        with self._lock:
            if self._sent:
                return False
            self._sent = True
            send(str(self.event.get("ResponseURL", "")), response.document(self.event))
            return True


def _seconds_left(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000.0 if callable(remaining) else 900.0


@first_call_without_gc
def provider(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from meshplane.config import function_owner
    from meshplane.migrate.cfn_provider import FAILED_PREFIX, Provider
    from meshplane.migrate.cfn_response import Response

    log = telemetry().logger
    responder = Responder(event)
    physical = event.get("PhysicalResourceId") or f"{FAILED_PREFIX}{event.get('RequestId', '')}"
    timeout = Response("FAILED", physical, reason="the provider ran out of time; the operation may be incomplete")
    watchdog = threading.Timer(max(_seconds_left(context) - TIMEOUT_MARGIN_SECONDS, 0.0), responder.respond,
                               args=(timeout,))
    watchdog.daemon = True
    watchdog.start()
    fields = {"requestType": event.get("RequestType"), "resourceType": event.get("ResourceType"),
              "logicalResourceId": event.get("LogicalResourceId"), "stackId": event.get("StackId")}
    try:
        try:
            client = appmesh_client(function_owner(context))
            deadline = lambda: _seconds_left(context) - TIMEOUT_MARGIN_SECONDS  # noqa: E731
            response = Provider(client, deadline).handle(event)
        except Exception as exc:  # building the client failed: still answer
            log.exception("custom resource provider failed", extra=fields)
            response = Response("FAILED", physical, reason=f"{type(exc).__name__}: {exc}")
        try:
            sent = responder.respond(response)
        except Exception:  # the response URL never took it: fail the invocation, so Lambda retries the request
            log.exception("custom resource response not delivered", extra={**fields, "status": response.status})
            raise
    finally:
        watchdog.cancel()
    log.info("custom resource answered", extra={**fields, "status": response.status, "sent": sent,
                                                "physicalResourceId": response.physical_id,
                                                "reason": response.reason or None})
    return {"Status": response.status, "PhysicalResourceId": response.physical_id, "Sent": sent}


@first_call_without_gc
def macro(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from meshplane.config import Settings
    from meshplane.migrate.cfn_macro import answer

    response, renamed = answer(event, Settings.from_env().provider_arn)
    telemetry().logger.info("template transformed", extra={
        "requestId": event.get("requestId"), "status": response["status"], "renamed": renamed,
        "errorMessage": response.get("errorMessage")})
    return response
