"""The repository stays `ruff` clean: style is part of what CI checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing_in_the_project_code() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "layers", "functions", "tests", "bench"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
