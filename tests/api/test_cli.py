"""The unmodified AWS CLI manages meshes through the local API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

AWS = Path(sys.executable).parent / "aws"


def _aws(stack: Any, *args: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    env.pop("AWS_ENDPOINT_URL", None)
    out = subprocess.run(
        [str(AWS), "appmesh", *args, "--endpoint-url", stack.api_endpoint, "--output", "json"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    return json.loads(out.stdout)


def test_aws_cli_creates_and_lists_meshes(stack: Any, unique: Any) -> None:
    name = unique("cli")
    created = _aws(stack, "create-mesh", "--mesh-name", name, "--spec", '{"egressFilter":{"type":"ALLOW_ALL"}}')
    assert created["mesh"]["meshName"] == name
    assert created["mesh"]["metadata"]["version"] == 1
    listed = _aws(stack, "list-meshes")
    assert name in [m["meshName"] for m in listed["meshes"]]
