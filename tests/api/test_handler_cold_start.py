"""The API handler's INIT stays small: Powertools, boto3, pydantic and the generated shapes load on first invocation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"boto3", "botocore", "grpc", "pydantic", "aws_lambda_powertools"}
PROBE = ("import json, sys; import app; print(json.dumps(sorted(m for m in sys.modules "
         f"if m.split('.')[0] in {sorted(HEAVY)!r} or m == 'meshplane.model.shapes')))")


def test_importing_the_api_handler_loads_neither_boto3_nor_powertools_nor_the_generated_shapes() -> None:
    folder = ROOT / "functions" / "api"
    env = {"PATH": os.environ.get("PATH", ""), "AWS_REGION": "us-east-1",
           "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT / "layers")])}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=folder, env=env, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert json.loads(out) == []
