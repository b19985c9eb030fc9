"""`layers/prune_layer.py` as a module: it is a build script, not part of an installed package."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

PRUNE_LAYER = Path(__file__).resolve().parents[2] / "layers" / "prune_layer.py"


@pytest.fixture(scope="session")
def prune_layer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("prune_layer", PRUNE_LAYER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
