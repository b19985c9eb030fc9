"""The measured parts of the demo: the canary walk, killing an instance, restarting ADS.

Every number comes from real responses (the traffic generator) or from Envoy's admin
API; the only inputs are the weights the demo asks for.
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable

from meshplane.demo import mesh, observe
from meshplane.demo.envoy import DemoError, Sidecar
from meshplane.demo.report import AdsRestart, CanaryStep, KillResult
from meshplane.demo.stack import Stack
from meshplane.demo.traffic import Sample, Split, TrafficGenerator
from meshplane.demo.view import Advance
from meshplane.localnet.loopback import accepts
from meshplane.localnet.processes import alive
from meshplane.localnet.waiting import poll

CANARY: tuple[tuple[int, int], ...] = ((100, 0), (90, 10), (50, 50), (0, 100))
SAMPLES_PER_STEP = 300
PROPAGATION_TIMEOUT = 60.0


def tolerance(expected: float, n: int) -> float:
    """3.5 binomial standard deviations plus 2 points: a correct split fails this about 1 time in 2000."""
    return 0.02 + 3.5 * math.sqrt(expected * (1 - expected) / max(n, 1))


def _wait(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> float | None:
    """Seconds until `condition` holds, None on timeout."""
    started = time.monotonic()
    return time.monotonic() - started if poll(condition, timeout, interval) else None


def canary_step(stack: Stack, traffic: TrafficGenerator, front: Sidecar, blue: int, green: int,
                previous: tuple[int, int] | None, advance: Advance) -> CanaryStep:  # fmt: skip
    """Set the weights (unless this is the initial state), wait for Envoy, then measure the split."""
    called = time.monotonic()
    version = mesh.set_weights(stack.clients.appmesh, stack.plan, blue, green) if previous else 0
    returned = time.monotonic()
    envoy_seconds = _wait(lambda: observe.weights_match(observe.route_weights(front.config_dump()), blue, green),
                          PROPAGATION_TIMEOUT)  # fmt: skip
    if envoy_seconds is None:
        raise DemoError(f"front's Envoy never showed weights {blue}/{green} within {PROPAGATION_TIMEOUT:.0f}s")
    applied = returned + envoy_seconds

    def live(samples: list[Sample]) -> None:
        split = Split.of(samples)
        advance(len(samples), f"blue {split.by_color.get('blue', 0)}  green {split.by_color.get('green', 0)}  "
                              f"failed {split.failed}")  # fmt: skip

    samples = traffic.wait_for(SAMPLES_PER_STEP, since=applied + 0.5, timeout=60, progress=live)
    split = Split.of(samples)
    first = _first_change(traffic, previous, (blue, green), returned) if previous else None
    return CanaryStep(
        blue_weight=blue, green_weight=green, route_version=version,
        api_seconds=round(returned - called, 4),
        envoy_seconds=round(envoy_seconds, 4) if previous else None,
        first_response_seconds=round(first, 4) if first is not None else None,
        requests=split.total, failed=split.failed, by_color=split.by_color, by_instance=split.by_instance,
        measured_blue=round(split.share("blue"), 4), measured_green=round(split.share("green"), 4),
        tolerance=round(tolerance(green / 100, split.ok), 4),
    )  # fmt: skip


def _first_change(traffic: TrafficGenerator, before: tuple[int, int], after: tuple[int, int], since: float
                  ) -> float | None:  # fmt: skip
    """A color turned on: its first response; turned off: its last response (seconds after the API call)."""
    for color, was, now in zip(observe.COLORS, before, after, strict=True):
        answered = [s.at for s in traffic.samples(since) if s.color == color]
        if was == 0 and now > 0 and answered:
            return answered[0] - since
        if was > 0 and now == 0:
            return (answered[-1] - since) if answered else 0.0
    return None


def kill_instance(stack: Stack, traffic: TrafficGenerator, front: Sidecar, name: str, window: float = 8.0
                  ) -> KillResult:  # fmt: skip
    """Kill one instance (app and sidecar, as a task dying) and count what clients saw."""
    victim = stack.running[name]
    color = victim.instance.node
    before = observe.color_stats(front, color)
    killed_at = time.monotonic()
    killed = []
    for child in (victim.app, victim.sidecar.child):
        if child is not None:
            stack.supervisor.stop(child, grace=0)
            killed.append(child.name)
    time.sleep(window)
    after = observe.color_stats(front, color)
    split = Split.of(traffic.samples(killed_at, killed_at + window))
    return KillResult(
        instance=name, killed=killed, window_seconds=window, requests=split.total, client_errors=split.failed,
        retry_budget=int(mesh.RETRY_POLICY["maxRetries"]),
        upstream_retries=after["upstream_rq_retry"] - before["upstream_rq_retry"],
        outlier_ejections=after["outlier_detection.ejections_enforced_total"]
        - before["outlier_detection.ejections_enforced_total"],
        served_by=split.by_instance,
    )  # fmt: skip


def restart_ads(stack: Stack, traffic: TrafficGenerator, settle: float = 2.0, timeout: float = 60.0) -> AdsRestart:
    """SIGKILL local up's ADS child; local up starts a new one and every Envoy reconnects.

    The restart is timed by the ADS port refusing and then accepting connections again;
    each Envoy's reconnection by its own stats: connected again on a new ADS connection.
    """
    old_pid = stack.local.ads_pid()
    if old_pid is None or not alive(old_pid):
        raise DemoError(f"local up reports no running ADS process (state: {stack.local.current_state()})")
    sidecars = [sidecar for sidecar in stack.sidecars() if sidecar.child.running]  # not the killed instance
    opened = {s.name: (observe.ads_connection(s) or (True, 0))[1] for s in sidecars}
    killed_at = time.monotonic()
    os.kill(old_pid, signal.SIGKILL)
    restarted: float | None = None
    port_down = False
    reconnected: dict[str, float | None] = {s.name: None for s in sidecars}

    def recovered() -> bool:
        """Record when the port came back and when each sidecar reconnected; true once all did."""
        nonlocal restarted, port_down
        now = time.monotonic() - killed_at
        if restarted is None:
            host, _, port = stack.local.ads_address.rpartition(":")
            accepting = accepts(host, int(port))
            port_down = port_down or not accepting
            if port_down and accepting:
                restarted = now
        for sidecar in sidecars:
            state = observe.ads_connection(sidecar) if reconnected[sidecar.name] is None else None
            if state is not None and state[0] and state[1] > opened[sidecar.name]:
                reconnected[sidecar.name] = now
        return restarted is not None and all(v is not None for v in reconnected.values())

    poll(recovered, timeout)  # what did not recover in time is reported as None
    time.sleep(settle)
    window = time.monotonic() - killed_at
    new_pid = stack.local.ads_pid()
    split = Split.of(traffic.samples(killed_at, killed_at + window))
    return AdsRestart(
        old_pid=old_pid, new_pid=new_pid if new_pid != old_pid else None,
        restarted_seconds=round(restarted, 3) if restarted is not None else None,
        reconnected_seconds={k: (round(v, 3) if v is not None else None) for k, v in reconnected.items()},
        window_seconds=round(window, 3), requests=split.total, failed=split.failed,
    )  # fmt: skip
