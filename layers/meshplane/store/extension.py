"""What meshplane's own resources (policies, rollouts) share with the App Mesh kinds in the table.

Each such item carries App Mesh's metadata attributes (`arn`, `uid`, `version`, `createdAt`,
`lastUpdatedAt` in epoch seconds, `meshOwner`, `resourceOwner`) and its recent client tokens
(`tokens`, `<token>|<request hash>`), but no `kind`, so the App Mesh readers pass it by.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from meshplane.store import schema
from meshplane.store.errors import Conflict

if TYPE_CHECKING:
    from meshplane.model.shapes.common import ResourceMetadata
    from meshplane.store.resources import ResourceStore

SERVICE = "meshplane"  # the ARN service and the IAM action namespace of meshplane's own resources
MAX_TOKENS = 10


def arn(store: ResourceStore, path: str) -> str:
    """`arn:<partition>:meshplane:<region>:<account>:<path>`."""
    return f"arn:{store.partition}:{SERVICE}:{store.region}:{store.account}:{path}"


def new_metadata(store: ResourceStore, path: str, token: str | None, request_hash: str) -> dict[str, Any]:
    """The metadata attributes of a resource created now, with its client token."""
    now = schema.epoch(store._clock())
    return {"arn": arn(store, path), "uid": str(uuid.uuid4()), "version": 1, "createdAt": now, "lastUpdatedAt": now,
            "meshOwner": store.account, "resourceOwner": store.account,
            "tokens": [f"{token}|{request_hash}"] if token else []}


def metadata_of(item: Mapping[str, Any]) -> ResourceMetadata:
    from meshplane.model import shapes

    return shapes.ResourceMetadata(
        arn=item["arn"], uid=item["uid"], version=int(item["version"]),
        created_at=moment(item["createdAt"]), last_updated_at=moment(item["lastUpdatedAt"]),
        mesh_owner=item["meshOwner"], resource_owner=item["resourceOwner"],
    )


def replayed(item: Mapping[str, Any], token: str | None, request_hash: str) -> bool:
    """Whether `item` was written by this very request; Conflict if the token came with another request."""
    if not token:
        return False
    for entry in item.get("tokens") or ():
        seen_token, _, seen_hash = entry.rpartition("|")
        if seen_token == token:
            if seen_hash != request_hash:
                raise Conflict("the client token was already used with a different request")
            return True
    return False


def moment(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value), tz=UTC)
