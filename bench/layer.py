"""What the Lambda deployment package really contains: the layer exactly as `sam build` makes it.

`sam build` builds the layer with `layers/Makefile` (BuildMethod makefile):
Lambda-platform wheels (python3.12, arm64), our package, then
`layers/prune_layer.py`.  The bench runs that same make target into a temporary
folder, so the size it reports is the size `sam build` produces, pruning included,
not a simulation of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common import ROOT

LAYER_TARGET = "build-MeshplaneLayer"
FUNCTION_DIRS = ROOT / "functions"


@contextmanager
def built_layer() -> Iterator[Path]:
    """Run the layer's make target as `sam build` does; yields the layer's `python` folder.

    pip picks the Lambda platform's wheels from the target's flags, so any Python runs it.
    """
    with tempfile.TemporaryDirectory(prefix="meshplane-layer-") as artifacts:
        subprocess.run(
            [
                "make",
                "-s",
                "-C",
                str(ROOT / "layers"),
                LAYER_TARGET,
                f"ARTIFACTS_DIR={artifacts}",
                f"PYTHON={sys.executable}",
            ],
            check=True,
            capture_output=True,
            timeout=900,
            env=dict(os.environ),
        )
        yield Path(artifacts) / "python"


def runtime_provided() -> tuple[str, ...]:
    """The top-level modules the Lambda Python runtime ships, which `layers/prune_layer.py` leaves out of the layer."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("prune_layer", ROOT / "layers" / "prune_layer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.RUNTIME_PROVIDED)


def function_files() -> list[Path]:
    """The function folders' files, as `sam build` copies them (CodeUri: functions/<name>/)."""
    return [p for p in FUNCTION_DIRS.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def sizes(files: list[Path], base: Path) -> tuple[int, int]:
    """(unzipped bytes, zipped bytes) of `files`, zipped with deflate like `sam build` artifacts."""
    unzipped = sum(p.stat().st_size for p in files)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "package.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in files:
                zf.write(path, str(path.relative_to(base)))
        zipped = archive.stat().st_size
    return unzipped, zipped
