"""The repository stays `ruff` clean, type-checks, and stays within its product boundaries: CI checks all three."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_ruff_finds_nothing_in_the_project_code() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "layers", "functions", "tests", "bench"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_import_stays_within_the_product_boundaries() -> None:
    """The `[tool.importlinter]` contracts of pyproject.toml: core, aws, ads and tools (lazy imports count)."""
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr
    assert "0 broken" in result.stdout


def test_mypy_finds_no_type_error() -> None:
    """`[tool.mypy]` of pyproject.toml: strict, with pydantic's plugin, over layers/meshplane and functions."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr
