"""Make the unmodified boto3 / AWS CLI `appmesh` client sign for API Gateway.

meshplane's API sits behind API Gateway with IAM auth, which only accepts SigV4
signatures scoped to `execute-api`; botocore signs App Mesh calls as `appmesh`.
botocore emits `before-sign.<service-id>.<operation>` just before signing and then
honours `request.context['signing']['signing_name']`, so one handler fixes the scope
without touching SigV4 itself.
"""

from __future__ import annotations

from typing import Any, Protocol

API_GATEWAY_SIGNING_NAME = "execute-api"
# botocore hyphenizes the service id "App Mesh"; registering the prefix covers every operation.
BEFORE_SIGN_EVENT = "before-sign.app-mesh"


class _Events(Protocol):
    def register(self, event_name: str, handler: Any, unique_id: str | None = None) -> None: ...


def sign_for_api_gateway(request: Any, **_: Any) -> None:
    """Switch the signing scope of one App Mesh request to `execute-api`."""
    request.context.setdefault("signing", {})["signing_name"] = API_GATEWAY_SIGNING_NAME


def _events_of(session_or_client: Any) -> _Events:
    meta = getattr(session_or_client, "meta", None)
    core = getattr(session_or_client, "_session", None)  # a boto3.Session wraps a botocore session
    events: _Events
    if meta is not None and hasattr(meta, "events"):
        events = meta.events  # a botocore/boto3 client
    elif core is not None and hasattr(core, "get_component"):
        events = core.get_component("event_emitter")
    elif hasattr(session_or_client, "get_component"):
        events = session_or_client.get_component("event_emitter")
    else:
        raise TypeError(f"cannot register a signing hook on {type(session_or_client).__name__}")
    return events


def register(session_or_client: Any) -> None:
    """Install the hook on a boto3 Session, a botocore session or one client (idempotent)."""
    _events_of(session_or_client).register(
        BEFORE_SIGN_EVENT, sign_for_api_gateway, unique_id="meshplane-execute-api-signing"
    )
