"""Exports of the App Mesh API itself: what `aws appmesh describe-*` and `list-*` print, and live reads.

A document is one `describe-*` output (`{"virtualNode": {...}}`), a list of them, or a
`list-*` output (`{"virtualNodes": [refs]}`).  Describe outputs carry the specs; a
`list-*` output is an inventory: every resource it lists must have its describe output
in the sources too, or the export is incomplete and the import refuses it rather than
leave resources behind.  A describe document may carry a sibling `"tags"` list (the
`list-tags-for-resource` output's `tags`; `meshplane import --save` writes it so), and only
then are the resource's tags managed.  Resources whose status is DELETED are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from meshplane.migrate.appmesh import list_key, payload
from meshplane.migrate.desired import Desired
from meshplane.migrate.errors import Collector, Origin, SourceError
from meshplane.migrate.wire import to_wire
from meshplane.model.ids import Kind, ResourceKey
from meshplane.store.kinds import KINDS, KindInfo

DESCRIBE_KEYS: dict[str, Kind] = {payload(kind): kind for kind in KINDS}  # `virtualNode`: describe-virtual-node
LIST_KEYS: dict[str, Kind] = {list_key(kind): kind for kind in KINDS}  # `virtualNodes`: list-virtual-nodes


def is_export(document: Any) -> bool:
    items = document if isinstance(document, list) else [document]
    return bool(items) and all(isinstance(i, dict) and (set(i) & (DESCRIBE_KEYS.keys() | LIST_KEYS.keys()))
                               for i in items)


def load_all(files: Iterable[tuple[str, Any]]) -> list[Desired]:
    """The resources of every export document, checked against every `list-*` inventory among them."""
    errors = Collector()
    found: list[Desired] = []
    listed: list[tuple[Origin, ResourceKey]] = []
    described: set[ResourceKey] = set()  # valid or not: an invalid one is reported as such, not as missing
    for source, document in files:
        items = document if isinstance(document, list) else [document]
        for index, item in enumerate(items):
            where = Origin(source, f"document {index + 1}" if isinstance(document, list) else "document")
            errors.run(where, partial(_read, item, where, found, listed, described))
    for origin, key in listed:
        if key not in described:
            errors.errors.append(SourceError(origin, None, f"lists {_describe(key)}, but no describe output of it is "
                                                           "in the sources: export its describe-* output too"))
    errors.raise_if_any()
    return found


def _read(item: Any, where: Origin, found: list[Desired], listed: list[tuple[Origin, ResourceKey]],
          described: set[ResourceKey]) -> None:
    if not isinstance(item, dict):
        raise SourceError(where, None, "must be a describe-* or list-* output object")
    describe = [k for k in item if k in DESCRIBE_KEYS]
    inventory = [k for k in item if k in LIST_KEYS]
    if len(describe) + len(inventory) != 1:
        raise SourceError(where, None, "must hold exactly one describe-* or list-* payload, got "
                                       f"{sorted(item) or 'none'}")
    extra = set(item) - {*describe, *inventory, "tags", "nextToken", "ResponseMetadata"}
    if extra:
        raise SourceError(where, sorted(extra)[0], "is not part of a describe-* or list-* output")
    if inventory:
        kind = LIST_KEYS[inventory[0]]
        refs = item[inventory[0]]
        if not isinstance(refs, list):
            raise SourceError(where, inventory[0], "must be a list")
        for i, ref in enumerate(refs):
            key = _key(KINDS[kind], ref, where, f"{inventory[0]}[{i}]")
            listed.append((Origin(where.source, f"{where.resource}: {inventory[0]}[{i}]"), key))
        return
    payload = describe[0]
    described.add(_key(KINDS[DESCRIBE_KEYS[payload]], item[payload], where, payload))
    desired = resource(DESCRIBE_KEYS[payload], item[payload], where, payload, item.get("tags"))
    if desired is not None:
        found.append(desired)


def resource(kind: Kind, data: Any, where: Origin, path: str, tags: Any = None) -> Desired | None:
    """The Desired of one describe output's resource (None when it is DELETED)."""
    info = KINDS[kind]
    if not isinstance(data, dict):
        raise SourceError(where, path, "must be an object")
    status = (data.get("status") or {}).get("status")
    if status == "DELETED":
        return None
    key = _key(info, data, where, path)
    origin = Origin(where.source, _describe(key))
    paths: dict[tuple[str | int, ...], str] = {}
    try:
        spec = to_wire(data.get("spec") or {}, info.spec, f"{path}.spec", paths=paths)
    except SourceError as error:
        raise SourceError(origin, error.field, error.message) from None
    metadata = data.get("metadata") or {}
    # meshOwner is worth passing only for a mesh shared from another account; a migration changes accounts
    shared = kind is not Kind.MESH and metadata.get("meshOwner") not in (None, metadata.get("resourceOwner"))
    return Desired(key, spec, origin, tags=_tags(tags, origin), mesh_owner=metadata["meshOwner"] if shared else None,
                   paths=paths)


def _key(info: KindInfo, data: Any, where: Origin, path: str) -> ResourceKey:
    if not isinstance(data, dict):
        raise SourceError(where, path, "must be an object")
    fields = ["meshName", info.name_field, *([info.parent_field] if info.parent_field else [])]
    for name in dict.fromkeys(fields):
        if not isinstance(data.get(name), str) or not data[name]:
            raise SourceError(where, f"{path}.{name}", "is required")
    parent = data[info.parent_field] if info.parent_field else None
    return ResourceKey(info.kind, data["meshName"], data[info.name_field], parent)


def _tags(tags: Any, origin: Origin) -> dict[str, str] | None:
    if tags is None:
        return None
    if not isinstance(tags, list) or not all(isinstance(t, dict) and set(t) <= {"key", "value"} and "key" in t
                                             for t in tags):
        raise SourceError(origin, "tags", "must be a list of {key, value} (list-tags-for-resource's tags)")
    return {t["key"]: t.get("value", "") for t in tags}


def _describe(key: ResourceKey) -> str:
    from meshplane.store.resources import describe_key

    return describe_key(key)
