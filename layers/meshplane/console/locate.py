"""Which App Mesh API the console talks to: `--api-url`, or the `meshplane local up` running from this folder.

`meshplane local up` writes `<state dir>/state.json` (its API URL, region and pid) once it
is healthy and removes it when it stops; a file left by a killed one names a pid that is
gone, and is not taken.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from meshplane.console.defaults import LOCAL_STATE_FILE


@dataclass(frozen=True)
class LocalApi:
    """The API of a running `meshplane local up`."""

    url: str
    region: str | None


def running_local_api(state_dir: Path) -> LocalApi | None:
    """The API of the `meshplane local up` keeping its state in `state_dir`, if one is running."""
    try:
        state = json.loads((state_dir / LOCAL_STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    url, pid, region = state.get("apiUrl"), state.get("pid"), state.get("region")
    if not isinstance(url, str) or not isinstance(pid, int) or not _alive(pid):
        return None
    return LocalApi(url, region if isinstance(region, str) else None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True
