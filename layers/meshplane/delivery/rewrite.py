"""File mode's config sources: every ADS reference of a snapshot reads its own file.

Listeners name their routes, clusters their endpoints and TLS contexts their secrets
over ADS; in file mode each of those references becomes the path source of the one
resource it names, in the layout of `delivery.files`.
"""

from __future__ import annotations

import functools
from pathlib import Path

from meshplane.delivery.files import path_source
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.transform import with_sources


def to_files(snapshot: Snapshot, root: Path) -> Snapshot:
    """A copy whose ADS-delivered RDS/EDS/SDS references read per-resource files under `root`."""
    return with_sources(snapshot, functools.partial(path_source, root))
