"""Moving time for the reconcile's change markers: what happened so far put behind its look-back."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

from meshplane.pipeline.reconcile import MARGIN_SECONDS
from meshplane.pipeline.reconcile_marks import MarkStore

from .conftest import World


def quiet_since_now(world: World) -> None:
    """Make the last pass look as if it ran a margin from now, so what happened until now is behind the reconcile
    (`pipeline.reconcile`: each pass looks back `MARGIN_SECONDS` before the last one)."""
    store = MarkStore(world.clients.dynamodb, world.settings.table)
    marks = store.get()
    assert marks is not None
    store.put(dataclasses.replace(marks, passed_at=time.time() + MARGIN_SECONDS + 1))


def age_operations(by_seconds: float) -> None:
    """Move every Cloud Map operation the emulator recorded that far into the past."""
    from moto.servicediscovery.models import servicediscovery_backends

    for backend in (b for regions in servicediscovery_backends.values() for b in regions.values()):
        for operation in backend.operations.values():  # epoch seconds up to moto 5.2.5, a datetime after
            earlier = operation.updated
            operation.updated = (earlier - dt.timedelta(seconds=by_seconds) if isinstance(earlier, dt.datetime)
                                 else earlier - by_seconds)
