"""A DynamoDB Query on the base table reads its one partition, as DynamoDB does.

moto answers a Query on the table's own key by sorting every item of the table and keeping
those of the queried partition: each Query costs the whole table, so an emulator that has
served a long session spends most of its CPU on the pipeline's partition reads. Here the
base-table Query is handed the queried partition alone; moto's own code still does the rest
(key conditions, filters, order, Limit and ExclusiveStartKey), so the answer is unchanged.
Queries on an index and every other caller of `Table.all_items` (Scan, exports) are left as
they are.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_querying = threading.local()  # (table, hash key) while that table answers a base-table Query on this thread
MOTO: dict[str, Callable[..., Any]] = {}  # moto's own `Table.all_items` and `Table.query`, once installed


def partition_items(table: Any, hash_key: Any) -> list[Any]:
    """The items of one partition of `table`, in no particular order (Query sorts them by range key)."""
    found = table.items.get(hash_key)
    if found is None:
        return []
    return list(found.values()) if table.range_key_attr else [found]


def install() -> None:
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "__meshplane_partition__", False):
        return
    MOTO.update(all_items=Table.all_items, query=Table.query)

    @functools.wraps(MOTO["all_items"])
    def all_items(self: Any) -> list[Any]:
        current = getattr(_querying, "current", None)
        if current is not None and current[0] is self:
            return partition_items(self, current[1])
        whole: list[Any] = MOTO["all_items"](self)
        return whole

    @functools.wraps(MOTO["query"])
    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs["index_name"] if "index_name" in kwargs else (args[6] if len(args) > 6 else None)
        if index_name or hash_key is None:
            return MOTO["query"](self, hash_key, *args, **kwargs)
        _querying.current = (self, hash_key)
        try:
            return MOTO["query"](self, hash_key, *args, **kwargs)
        finally:
            _querying.current = None

    query.__meshplane_partition__ = True  # type: ignore[attr-defined]
    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]
