"""meshplane's own proxy reads beside the App Mesh API: every proxy's config status, and a proxy's published config.

`GET /meshplane/v1/meshes/{meshName}/proxies` (IAM action `meshplane:ListProxies` on the mesh ARN)
answers, for a page of the mesh's virtual nodes and gateways in name order:
- `nodes`: one row per proxy: its latest published version (the pointer) and a summary of its Envoys;
- `proxies`: one row per Envoy (an ADS stream or a file agent, `store.proxy_status`): connected or not,
  last seen, the version it applied whole against the latest, its acknowledged version per type, and
  its last rejection with Envoy's own message.

`GET /meshplane/v1/meshes/{meshName}/virtualNodes/{virtualNodeName}/config` (and `virtualGateways/...`;
IAM action `meshplane:DescribeProxyConfig` on the node's or gateway's ARN) answers the Envoy config
meshplane published for that proxy, every resource as Envoy's JSON, with key material redacted.

Both are authorized like the App Mesh reads (`api.authz`), with the stored resource's tags as
`aws:ResourceTag/*`. Client mistakes are App Mesh errors naming the field.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from google.protobuf.message import Message

from meshplane.api.permissions import Check
from meshplane.model.ids import Kind, ProxyId, ResourceKey
from meshplane.publication.bucket import SnapshotSource
from meshplane.snapshot.types import XdsType
from meshplane.store.errors import BadRequest, NotFound
from meshplane.store.pointers import PointerStore
from meshplane.store.proxy_status import EnvoyStatus, ProxyStatusStore
from meshplane.store.resources import ResourceStore

LIST_ACTION = "meshplane:ListProxies"
CONFIG_ACTION = "meshplane:DescribeProxyConfig"
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
PROXY_KINDS = (Kind.VIRTUAL_GATEWAY, Kind.VIRTUAL_NODE)  # the page order: by kind name, then name
REDACTED = "[redacted by meshplane]"
SECRET_FIELDS = frozenset({"privateKey", "password", "sessionTicketKeys", "genericSecret", "secret"})
Authorize = Callable[[Sequence[Check]], None]


def sync_of(envoy: EnvoyStatus, latest: str | None, now: float) -> str:
    """One Envoy's state, worst first: `nack`, `disconnected`, `behind` (not yet on the latest), `in-sync`."""
    if envoy.nack is not None:
        return "nack"
    if not envoy.live(now):
        return "disconnected"
    return "in-sync" if latest is not None and envoy.applied == latest else "behind"


SYNC_RANK = {"in-sync": 0, "disconnected": 1, "behind": 2, "nack": 3}


def envoy_json(envoy: EnvoyStatus, latest: str | None, now: float) -> dict[str, Any]:
    return {
        "nodeId": envoy.node_id, "instance": envoy.instance, "connection": envoy.connection, "peer": envoy.peer,
        "delivery": envoy.delivery, "connected": envoy.live(now), "connectedAt": envoy.connected_at,
        "lastSeen": envoy.seen, "latestVersion": latest, "appliedVersion": envoy.applied or None,
        "ackedVersions": dict(envoy.acked), "nack": None if envoy.nack is None else envoy.nack.to_json(),
        "sync": sync_of(envoy, latest, now),
    }  # fmt: skip


def node_json(proxy: ProxyId, latest: str | None, envoys: list[EnvoyStatus], now: float) -> dict[str, Any]:
    states = [sync_of(e, latest, now) for e in envoys]
    if latest is None:
        sync = "unpublished"
    elif not states:
        sync = "no-envoy"
    else:
        sync = max(states, key=SYNC_RANK.__getitem__)
    return {
        "nodeId": proxy.path, "kind": proxy.kind.value, "name": proxy.name, "latestVersion": latest,
        "envoys": len(envoys), "connected": sum(e.live(now) for e in envoys),
        "inSync": states.count("in-sync"), "nacks": states.count("nack"), "sync": sync,
    }  # fmt: skip


def redacted(value: Any) -> Any:
    """Envoy JSON with every key, password and ticket key replaced: the published snapshot carries the
    proxies' private keys (SDS secrets), which a read of its config must never hand out."""
    if isinstance(value, dict):
        return {k: REDACTED if k in SECRET_FIELDS else redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def resource_json(message: Message) -> dict[str, Any]:
    """Envoy's JSON of a resource, its `Any` fields (filters, transport sockets, options) expanded.

    Expanding needs each packed type's descriptor: importing the translator registers every type
    meshplane packs.  A type it still cannot find leaves that resource in protobuf's text format."""
    from google.protobuf import json_format, text_format

    import meshplane.translate  # noqa: F401 - registers the packed types' descriptors

    try:
        return dict(json_format.MessageToDict(message))
    except TypeError:
        return {"textFormat": text_format.MessageToString(message)}


def _limit(query: Mapping[str, Sequence[str]]) -> int:
    values = query.get("limit")
    if not values:
        return DEFAULT_LIMIT
    try:
        limit = int(values[-1])
    except ValueError:
        raise BadRequest("limit: must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit: must be between 1 and {MAX_LIMIT}")
    return limit


def _after(query: Mapping[str, Sequence[str]], mesh: str) -> str | None:
    values = query.get("nextToken")
    if not values or not values[-1]:
        return None
    try:
        path = base64.urlsafe_b64decode(values[-1].encode()).decode()
        proxy = ProxyId.parse(path)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest("nextToken: not a token this API gave") from None
    if proxy.mesh != mesh:
        raise BadRequest("nextToken: given for another mesh")
    return path


class ProxyReads:
    """The two reads; `snapshots` opens the snapshot bucket on first use (only the config read needs it)."""

    def __init__(self, resources: ResourceStore, snapshots: Callable[[], SnapshotSource] | None = None) -> None:
        self._resources = resources
        self._pointers = PointerStore(resources.table, resources.client)
        self._statuses = ProxyStatusStore(resources.table, resources.client)
        self._snapshots = snapshots
        self._source: SnapshotSource | None = None

    def _arn(self, key: ResourceKey) -> str:
        r = self._resources
        return key.arn(r.region, r.account, partition=r.partition)

    def list_proxies(self, mesh: str, query: Mapping[str, Sequence[str]], authorize: Authorize,
                     now: float) -> dict[str, Any]:  # fmt: skip
        mesh_key = ResourceKey(Kind.MESH, mesh, mesh)
        authorize([Check(LIST_ACTION, self._arn(mesh_key), mesh_key)])
        limit, after = _limit(query), _after(query, mesh)
        page, more = self._page(mesh, limit, None if after is None else ProxyId.parse(after))
        envoys: dict[str, list[EnvoyStatus]] = {p.path: [] for p in page}
        for envoy in self._statuses.envoys(page):
            envoys[envoy.proxy.path].append(envoy)
        latest = self._pointers.versions([p.path for p in page])
        return {
            "meshName": mesh,
            "nodes": [node_json(p, latest.get(p.path), envoys.get(p.path, []), now) for p in page],
            "proxies": [envoy_json(e, latest.get(p.path), now) for p in page for e in envoys.get(p.path, [])],
            "nextToken": base64.urlsafe_b64encode(page[-1].path.encode()).decode() if more else None,
        }

    def _page(self, mesh: str, limit: int, after: ProxyId | None) -> tuple[list[ProxyId], bool]:
        """Up to `limit` of the mesh's gateways then nodes (name order) after `after`, and whether more follow;
        NotFound when there is no such mesh."""
        found: list[ProxyId] = []
        for kind in PROXY_KINDS:
            if after is not None and after.kind.value > kind.value:
                continue  # that kind was paged through already
            start = after.name if after is not None and after.kind is kind else None
            while len(found) <= limit:
                resources, start = self._resources.list_page(kind, mesh, None, limit + 1 - len(found), start)
                found += [ProxyId(mesh, kind, r.model_dump(by_alias=True)[f"{kind.value}Name"]) for r in resources]
                if start is None:
                    break
        return found[:limit], len(found) > limit

    def proxy_config(self, mesh: str, kind: Kind, name: str, authorize: Authorize) -> dict[str, Any]:
        key = ResourceKey(kind, mesh, name)
        authorize([Check(CONFIG_ACTION, self._arn(key), key)])
        if self._resources.get_item(key) is None:
            raise NotFound(f"{kind.value} {name!r} does not exist in mesh {mesh!r}")
        proxy = ProxyId(mesh, kind, name)
        pointer = self._pointers.get(proxy.path)
        if pointer is None:
            raise NotFound(f"nothing is published for {proxy.path} yet")
        if self._snapshots is None:
            raise NotFound("this API has no snapshot bucket to read published config from")
        if self._source is None:
            self._source = self._snapshots()
        snapshot = self._source.fetch(pointer)
        config = {t.value: {n: redacted(resource_json(m)) for n, m in sorted(snapshot.of(t).items())} for t in XdsType}
        return {"nodeId": proxy.path, "version": pointer.version, "versions": dict(pointer.versions),
                "config": config}  # fmt: skip
