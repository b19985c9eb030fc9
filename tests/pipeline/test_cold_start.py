"""Handler modules import only what their INIT needs: boto3, the generated shapes and grpc are loaded later or never."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_HANDLERS = ["cloudmap_events", "ecs_events", "recompute", "reconcile"]
PROBE = ("import json, sys; import app; print(json.dumps(sorted(m for m in sys.modules "
         "if m.split('.')[0] in {'boto3', 'botocore', 'grpc', 'pydantic'} or m == 'meshplane.model.shapes')))")


def loaded_after_import(function: str) -> set[str]:
    """The heavy modules present after `import app`, in a fresh interpreter laid out like Lambda's."""
    folder = ROOT / "functions" / function
    env = {"PATH": os.environ.get("PATH", ""), "AWS_REGION": "us-east-1",
           "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT / "layers")])}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=folder, env=env, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return set(json.loads(out))


@pytest.mark.parametrize("function", PIPELINE_HANDLERS)
def test_a_pipeline_handler_imports_neither_boto3_nor_the_generated_shapes_nor_grpc(function: str) -> None:
    assert loaded_after_import(function) == set()
