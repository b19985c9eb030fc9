"""`ConfigPublished`: the event that tells delivery a proxy's pointer moved.

It is a hint, never the truth: readers re-read the pointer (`bucket.SnapshotBucket.pointer`),
so a lost, repeated or reordered event changes nothing but latency.  The pipeline puts
it on the EventBridge bus; rules copy it to the ADS queue and, with the ADS service on,
to an SNS topic whose subscribers may receive it wrapped in an SNS envelope.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EVENT_SOURCE = "meshplane.pipeline"
DETAIL_TYPE = "ConfigPublished"


class ConfigPublished(BaseModel):
    """The event's detail: `{"nodeId", "mesh", "version", "bucket", "key", "versions", "changedTypes"}`.

    Fields a newer publisher may add are ignored, so replicas of different releases
    can share one topic during a deployment.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    node_id: str = Field(alias="nodeId")
    mesh: str
    version: str
    bucket: str
    key: str
    versions: dict[str, str]
    changed_types: tuple[str, ...] = Field(alias="changedTypes")

    def detail(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def detail_json(self) -> str:
        """The detail as PutEvents carries it: sorted keys, so equal events are equal strings."""
        return json.dumps(self.detail(), sort_keys=True)

    def entry(self, bus: str) -> dict[str, str]:
        """One `PutEvents` entry for the bus `bus`."""
        return {"Source": EVENT_SOURCE, "DetailType": DETAIL_TYPE, "EventBusName": bus, "Detail": self.detail_json()}

    def message(self) -> str:
        """The event as an EventBridge rule delivers it to an SQS or SNS target (its routing fields)."""
        return json.dumps({"source": EVENT_SOURCE, "detail-type": DETAIL_TYPE, "detail": self.detail()})

    @classmethod
    def from_message(cls, body: str) -> ConfigPublished | None:
        """The event in an SQS message body, raw or in an SNS envelope; None when it is another event.

        Raises ValueError (pydantic's ValidationError is one) or TypeError when the body is no event.
        """
        event = json.loads(body)
        if isinstance(event, dict) and event.get("Type") == "Notification" and "Message" in event:
            event = json.loads(event["Message"])
        if not isinstance(event, dict):
            raise ValueError(f"an event is a JSON object, not {type(event).__name__}")
        if event.get("detail-type") != DETAIL_TYPE:
            return None
        return cls.model_validate(event.get("detail"))
