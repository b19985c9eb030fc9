"""Setting up the Tracer makes no botocore session for the X-Ray SDK's sampling client until that client is used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json
import botocore.session
sessions = []
original_init = botocore.session.Session.__init__
def counted(self, *args, **kwargs):
    sessions.append(1)
    original_init(self, *args, **kwargs)
botocore.session.Session.__init__ = counted
get_session = botocore.session.get_session
from meshplane.pipeline.telemetry import Telemetry
Telemetry.from_env()
from aws_xray_sdk.core import xray_recorder
client = xray_recorder.sampler._connector._xray_client
before_use = len(sessions)
service = client.meta.service_model.service_name
print(json.dumps({"before_use": before_use, "after_use": len(sessions), "service": service,
                  "restored": botocore.session.get_session is get_session}))
"""


def test_the_sampling_clients_session_is_made_when_the_client_is_first_used() -> None:
    env = {"PATH": os.environ.get("PATH", ""), "AWS_REGION": "us-east-1", "PYTHONPATH": str(ROOT / "layers")}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True,
                         timeout=60).stdout  # fmt: skip
    probe = json.loads(out)
    assert probe["before_use"] == 0, "no botocore session while the Tracer is set up"
    assert probe["after_use"] == 1 and probe["service"] == "xray", "one session and the real client, once used"
    assert probe["restored"], "botocore's get_session is left as it was found"
