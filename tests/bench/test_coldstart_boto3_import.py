"""The cold-start bench times `import boto3` as Lambda's runtime would run it, without this venv's extras."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import suite_coldstart  # noqa: E402

LOADED = "import boto3\nimport json\nprint(json.dumps(sorted({m.partition('.')[0] for m in sys.modules})))"


def test_the_timed_boto3_import_loads_only_what_lambdas_runtime_ships() -> None:
    proc = subprocess.run(suite_coldstart.in_lambda_runtime(LOADED), capture_output=True, text=True, timeout=60,
                          check=True, env={"PATH": "/usr/bin:/bin"})
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert {"boto3", "botocore", "urllib3", "s3transfer"} <= loaded
    assert not {"awscrt", "OpenSSL", "cryptography"} & loaded  # in this venv, not in Lambda's runtime
