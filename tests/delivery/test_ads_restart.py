"""`meshplane ads` as a real process: killed and restarted under traffic, and drained on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import EnvoyRunner, Lab, http_request, wait_until
from support.ports import free_port

from .harness import Aws, Publisher, Traffic
from .scenario import APP_PORT, SERVICE, Scenario
from .test_ads_traffic import eventually_answered_by, start_front

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("ads-process")]  # see test_many_streams
MESHPLANE = str(Path(sys.executable).with_name("meshplane"))


class AdsProcess:
    def __init__(self, aws: Aws, port: int, log: Path) -> None:
        self._aws, self.port, self._log = aws, port, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, grace_seconds: float = 2.0) -> AdsProcess:
        command = [MESHPLANE, "ads", "--host", "127.0.0.1", "--port", str(self.port), "--bucket", self._aws.bucket,
                   "--queue-url", self._aws.queue_url, "--poll-wait-seconds", "1",
                   "--grace-seconds", str(grace_seconds)]  # fmt: skip
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(command, env={**os.environ, **self._aws.env()}, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        wait_until(self._listening, 30, what="meshplane ads to listen")
        return self

    def _listening(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log_tail()
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def log_tail(self) -> str:
        return self._log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)


@pytest.fixture
def ads_process(aws: Aws, tmp_path: Path) -> Iterator[AdsProcess]:
    process = AdsProcess(aws, free_port(), tmp_path / "ads.log")
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_envoys_keep_routing_while_the_ads_server_is_down_and_resync_after_restart(
    lab: Lab, envoy_runner: EnvoyRunner, ads_process: AdsProcess, publisher: Publisher, delta: bool
) -> None:
    scenario = Scenario.two_versions(lab)
    publisher.publish(scenario.snapshot())
    ads_process.start()
    _, front = start_front(envoy_runner, scenario, f"127.0.0.1:{ads_process.port}", delta=delta)

    with Traffic(front, f"{SERVICE}:{APP_PORT}") as traffic:
        time.sleep(0.3)
        ads_process.stop()  # SIGKILL: no goodbye to the Envoys
        time.sleep(1.5)
        scenario.route_to = "back-v2"
        publisher.publish(scenario.snapshot())  # published while no server runs
        during_outage = len(traffic.answers)
        ads_process.start()
        eventually_answered_by(front, "back-v2", timeout=15)
        time.sleep(0.2)

    assert during_outage > 20
    assert None not in traffic.answers, "a request failed: traffic stopped at some point"
    assert traffic.answers[0] == "back-v1" and traffic.answers[-1] == "back-v2"


def test_sigterm_drains_streams_and_exits_cleanly_while_envoy_keeps_its_config(
    lab: Lab, envoy_runner: EnvoyRunner, ads_process: AdsProcess, publisher: Publisher
) -> None:
    scenario = Scenario(lab)
    scenario.start_app("back-v1")
    publisher.publish(scenario.snapshot())
    ads_process.start()
    _, front = start_front(envoy_runner, scenario, f"127.0.0.1:{ads_process.port}")
    started = time.monotonic()
    ads_process.signal(signal.SIGTERM)
    assert ads_process.process is not None
    assert ads_process.process.wait(15) == 0
    assert time.monotonic() - started < 10
    assert [http_request((front, 15001), f"{SERVICE}:{APP_PORT}").upstream for _ in range(5)] == ["back-v1"] * 5
