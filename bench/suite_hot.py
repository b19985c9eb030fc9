"""Hot changes: the route behind a service every node calls gains a canary, in meshes of 1,000 to 10,000 nodes.

Three processes, each with its own cores' share:
- the pipeline (`suite_hot_pipeline.py`): the pipeline's own code (plan, `shards.messages`,
  `ShardWorker.run`, the real publisher and translator) on the local runtime's concurrency,
  one warm worker process on each core (pinned there, as `local.cores` pins the local
  runtime's); the bucket is a directory, the table in memory, and every store call is counted;
- meshplane's real ADS server (`suite_hot_ads.py`) reading that directory, told of each
  ConfigPublished through a FIFO;
- here, `STREAMS` simulated Envoys (suite_fanout's SotW client, ACKing) on as many callers.

Measured from the change (the `go` line) on the shared monotonic clock: the last proxy's
pointer written, and the last stream holding the new EDS (the canary's cluster is new to
every caller, so its CDS and EDS change).  CPU per proxy is the shard processes' CPU time
over the proxies they rebuilt; I/O per proxy is the store calls and bytes they made.

The AWS projection is arithmetic on those measurements, every input named in the table:
a shard's time is its measured CPU less the stand-in stores' own (files, the FIFO, dicts),
plus the client's CPU for each of its store calls (what boto3 spends building, signing,
sending and parsing one, and production's conversion of what a listing or a batch of
resources returns, measured against the emulator by `client_cpu.py`, since the stores here
are kept in memory), plus its store calls at published
latencies, those the shard makes on its own thread one after another, and those its
publishing threads make (`shards.IO_THREADS` at once) divided among them; the dispatch's
CPU and its calls' client CPU are stretched to the recompute function's share of a vCPU, and
its shard batches are sent `shards.SEND_THREADS` at once; the shards start together when
the shard queue's MaximumConcurrency (the template's ShardConcurrency) covers them, and
otherwise, or under SQS's standard scaling, as that scaling allows.  The measured
workers are warm (forked from the process that published the mesh, whose heap is frozen
as a first call's, so their `ParsedItems` hold the previous generation; each rebuilds one
shard of the mesh as published before the change); the "cold containers" projection adds to
every shard the measured CPU of making the largest part any shard read into a state with
nothing parsed before, after the timed run (Lambda's INIT of the function is the coldstart
suite's).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import BENCH, Profile, Suite, median, process_group, require
from cost_model import FULL_VCPU_MB, template_facts
from meshplane.pipeline.shards import SEND_THREADS
from targets import HOT_AWS_S, HOT_LOCAL_S

STREAMS = 1000
SHARD_SIZE = 100  # template.yaml ShardSize's default
SHARD_CONCURRENCY = 100  # template.yaml ShardConcurrency's default
# Lambda's CPU share grows with memory, one vCPU at 1,769 MB: the shard function has 1,769 MB (a whole vCPU, taken
# as one core here); the recompute function that plans and dispatches has what template.yaml gives it, and below a
# whole vCPU its CPU time stretches.
DISPATCH_CPU_SHARE = min(1.0, template_facts().memory_mb["recompute"] / FULL_VCPU_MB)
WORKERS = os.cpu_count() or 1  # the local runtime's concurrency for the shard queue: one per core
# Published latencies (ms) a call is projected at; sources in the table "AWS latencies used".
LATENCY_MS = {"dynamodb": 5.0, "s3": 30.0, "events": 20.0, "sqs": 10.0}
LATENCY_SOURCES = [
    {"service": "dynamodb", "ms": 5.0, "source": "GetItem/PutItem average latency is single-digit milliseconds: "
     "https://repost.aws/knowledge-center/dynamodb-high-latency (5 ms taken; a Query page counted as one call)"},
    {"service": "s3", "ms": 30.0, "source": "small requests (< 512 KB) have a median latency in the tens of "
     "milliseconds: https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/"
     "timeouts-and-retries-for-latency-sensitive-applications.html (30 ms taken)"},
    {"service": "events", "ms": 20.0, "source": "no published PutEvents latency was found: 20 ms assumed"},
    {"service": "sqs", "ms": 10.0, "source": "no published SendMessageBatch latency was found: 10 ms assumed"},
    {"service": "lambda (SQS)", "ms": 0.0, "source": "standard scaling starts 5 concurrent batches and adds up to 300 "
     "per minute: https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html; poll-to-invoke delay "
     "not published, taken as 0"},
]


def _line(proc: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    """The first stdout line starting with `prefix` (the pipeline's EMF lines are skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"{proc.args!r} exited with {proc.wait()} before printing {prefix!r}")
        if line.startswith(prefix):
            return line.strip()
    raise TimeoutError(f"no {prefix!r} line within {timeout} s")


async def _streams(port: int, callers: list[str], go: Any) -> tuple[list[float], float]:
    """Connect a stream per caller, wait until each holds its EDS, run `go`, and wait for each update."""
    import grpc
    import xds_client
    from meshplane.model.ids import Kind, ProxyId
    from suite_fanout import STREAMS_PER_CHANNEL, Envoyish

    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[*xds_client.CHANNEL_OPTIONS,
                                                                        ("grpc.use_local_subchannel_pool", 1)])
                for _ in range(max(1, len(callers) // STREAMS_PER_CHANNEL))]
    envoys = [Envoyish(channels[i % len(channels)], ProxyId("bench", Kind.VIRTUAL_NODE, name).path)
              for i, name in enumerate(callers)]
    tasks = [asyncio.ensure_future(e.run()) for e in envoys]
    await asyncio.wait_for(asyncio.gather(*(e.ready.wait() for e in envoys)), timeout=1800)
    started = await asyncio.to_thread(go)
    await asyncio.wait_for(asyncio.gather(*(e.updated.wait() for e in envoys)), timeout=1800)
    for envoy, task in zip(envoys, tasks, strict=True):  # each stream ends, then every channel closes
        envoy.stop()
        task.cancel()
    await asyncio.gather(*tasks, *(channel.close() for channel in channels), return_exceptions=True)
    return [e.updated_at for e in envoys], started


def _one(nodes: int, streams: int) -> dict[str, Any]:
    """One mesh: start the ADS server and the pipeline, connect the streams, change the route, read it all."""
    import meshgen

    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as tmp:
        root, fifo = Path(tmp) / "bucket", str(Path(tmp) / "events.fifo")
        root.mkdir()
        os.mkfifo(fifo)
        ads_cmd = [sys.executable, str(BENCH / "suite_hot_ads.py"), str(root), fifo]
        pipe_cmd = [sys.executable, str(BENCH / "suite_hot_pipeline.py"), str(nodes), str(root), fifo, str(WORKERS),
                    str(SHARD_SIZE)]
        with process_group(ads_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as ads, \
                process_group(pipe_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as pipeline:
            port = int(_line(ads, "ready", 60).split()[1])
            _, proxies, initial = _line(pipeline, "ready", 1800).split()
            step = max(1, nodes // streams)
            callers = [meshgen.node_name(i) for i in range(0, nodes, step)][:streams]

            def go() -> float:
                ads.stdin.write(f"settle {proxies}\n")  # type: ignore[union-attr]
                ads.stdin.flush()  # type: ignore[union-attr]
                _line(ads, "settled", 600)  # the ADS as it stands between changes: the first publish taken
                started = time.monotonic()
                pipeline.stdin.write("go\n")  # type: ignore[union-attr]
                pipeline.stdin.flush()  # type: ignore[union-attr]
                return started

            updated, started = asyncio.run(_streams(port, callers, go))
            result = json.loads(_line(pipeline, '{"t0"', 1800))
            ads.stdin.write("quit\n")  # type: ignore[union-attr]
            ads.stdin.flush()  # type: ignore[union-attr]
    result.update(nodes=nodes, streams=len(callers), initial_publish_s=float(initial),
                  last_stream_s=max(updated) - result["t0"], stream_p50_s=median([u - result["t0"] for u in updated]),
                  go_to_t0_s=result["t0"] - started, proxies_published_first=int(proxies))
    return result


def _calls_ms(calls: dict[str, int]) -> float:
    return sum(n * LATENCY_MS[call.split(":")[0]] for call, n in calls.items())


def _client_ms(calls: dict[str, int], client_cpu: dict[str, float]) -> float:
    """The client's CPU for `calls` (ms), from the measured CPU per call of each kind."""
    missing = sorted(set(calls) - set(client_cpu))
    if missing:
        raise ValueError(f"no client CPU measured for {', '.join(missing)} (bench/client_cpu.py)")
    return sum(n * client_cpu[call] for call, n in calls.items())


def _shard_ms(run: dict[str, Any], threads: int, client_cpu: dict[str, float]) -> float:
    """A shard's projected time in AWS: its CPU and its calls' client CPU (one vCPU: they do not overlap), its
    own calls one after another, and its publishing threads' calls shared among them."""
    pooled = run.get("pooled", {})
    own = {call: n - pooled.get(call, 0) for call, n in run["calls"].items()}
    cpu_ms = _own_cpu_ms(run) + _client_ms(run["calls"], client_cpu)
    return cpu_ms + _calls_ms(own) + _calls_ms(pooled) / threads


def _own_cpu_ms(run: dict[str, Any]) -> float:
    """The run's CPU less what the stand-in stores spent, which the client's measured CPU per call replaces."""
    return (run["cpu"] - run.get("stand_in_cpu", 0.0)) * 1000


def client_cpu(rounds: int) -> dict[str, float]:
    """`client_cpu.py`'s CPU per call of each kind, against a fresh emulator."""
    from cost_world import emulator

    with emulator() as url:
        proc = subprocess.run([sys.executable, str(BENCH / "client_cpu.py"), url, str(rounds)], capture_output=True,
                              text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"client_cpu.py failed: {proc.stderr.strip().splitlines()[-3:]}")
    measured: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return measured


def _makespan(durations: list[float], concurrency: int, ramp: bool) -> float:
    """When the last shard ends (ms), starting each as soon as the concurrency allows; `ramp`: SQS standard
    scaling (5 at first, 300 more a minute) under the MaximumConcurrency."""
    running: list[float] = []  # end times
    ends = []
    now = 0.0
    for duration in sorted(durations, reverse=True):
        while True:
            allowed = min(concurrency, 5 + int(now / 1000 * 5)) if ramp else concurrency
            running = [end for end in running if end > now]
            if len(running) < allowed:
                break
            now = min([*running, now + 200.0])  # the next end, or the ramp's next step
        running.append(now + duration)
        ends.append(now + duration)
    return max(ends, default=0.0)


def _dispatch_ms(dispatch: dict[str, Any], client_cpu: dict[str, float]) -> float:
    """The recompute function's time in AWS: its CPU and its calls' client CPU stretched to its share of a vCPU,
    its shard batches sent `SEND_THREADS` at a time, and its other calls one after another (the index's Query,
    which overlaps the mesh's in fact, among them)."""
    calls = dispatch["calls"]
    sends = calls.get("sqs:SendMessageBatch", 0)
    others = {call: n for call, n in calls.items() if call != "sqs:SendMessageBatch"}
    cpu_ms = _own_cpu_ms(dispatch) + _client_ms(calls, client_cpu)
    return cpu_ms / DISPATCH_CPU_SHARE + _calls_ms(others) + math.ceil(sends / SEND_THREADS) * LATENCY_MS["sqs"]


def _projection(result: dict[str, Any], client_cpu: dict[str, float]) -> dict[str, float]:
    dispatch_ms = _dispatch_ms(result["dispatch"], client_cpu)
    shards = [_shard_ms(run, result.get("threads", 1), client_cpu) for run in result["runs"]]
    cold = [ms + result.get("cold_parse_s", 0.0) * 1000 for ms in shards]
    return {"dispatch ms": dispatch_ms, "slowest shard ms": max(shards),
            "all shards at once s": (dispatch_ms + _makespan(shards, SHARD_CONCURRENCY, ramp=False)) / 1000,
            "SQS standard scaling s": (dispatch_ms + _makespan(shards, SHARD_CONCURRENCY, ramp=True)) / 1000,
            "cold containers s": (dispatch_ms + _makespan(cold, SHARD_CONCURRENCY, ramp=False)) / 1000}


def _row(result: dict[str, Any], client_cpu: dict[str, float]) -> dict[str, Any]:
    runs = result["runs"]
    proxies = sum(r["proxies"] for r in runs)
    published = [t for r in runs for t in r["published"]]
    calls: dict[str, int] = {}
    written: dict[str, int] = {}
    for run in runs:
        for call, n in run["calls"].items():
            calls[call] = calls.get(call, 0) + n
        for call, n in run["bytes"].items():
            written[call] = written.get(call, 0) + n
    projection = _projection(result, client_cpu)
    return {
        "nodes": result["nodes"], "dependents": result["targets"], "shards": result["shards"],
        "workers": WORKERS, "last pointer s": max(published) - result["t0"],
        "dispatch (plan + cut) s": result["dispatched"] - result["t0"],
        "last stream s": result["last_stream_s"], "stream p50 s": result["stream_p50_s"], "streams": result["streams"],
        "shard CPU ms/proxy": sum(r["cpu"] for r in runs) / proxies * 1000,
        "stand-in stores CPU ms/proxy": sum(r.get("stand_in_cpu", 0.0) for r in runs) / proxies * 1000,
        "AWS client CPU ms/proxy": _client_ms(calls, client_cpu) / proxies,
        "store calls/proxy": sum(calls.values()) / proxies,
        **{f"{call}/proxy": round(n / proxies, 2) for call, n in sorted(calls.items())},
        "bytes written/proxy": sum(written.values()) / proxies,
        "AWS dispatch ms": projection["dispatch ms"], "AWS slowest shard ms": projection["slowest shard ms"],
        "AWS all shards at once s": projection["all shards at once s"],
        "AWS SQS standard scaling s": projection["SQS standard scaling s"],
        "AWS cold containers s": projection["cold containers s"],
        "cold part parse ms": result.get("cold_parse_s", 0.0) * 1000,
        "cold part items": result.get("cold_parse_items", 0),
        "publishing threads": result.get("threads", 1),
        "first publish, in line s": result["initial_publish_s"],
    }


def run(profile: Profile) -> Suite:
    require("meshplane.pipeline.shards", "ShardWorker", "messages")
    require("meshplane.delivery.service", "AdsService")
    suite = Suite("hot")
    measured = client_cpu(profile.pick(7, 3, 1))
    rows = []
    for nodes in profile.pick([1000, 5000, 10000], [1000], [60]):
        row = _row(_one(nodes, min(STREAMS, nodes)), measured)
        rows.append(row)
        size = f"N={nodes:,}"
        local_target = HOT_LOCAL_S * 1000 if nodes == 10000 else None
        aws_target = HOT_AWS_S * 1000 if nodes == 10000 else None
        suite.add(f"{size}: change → last pointer published", row["last pointer s"] * 1000, "ms",
                  target=local_target, note=f"{row['dependents']:,} dependents, {row['shards']} shards of at most "
                                            f"{SHARD_SIZE} on {WORKERS} worker processes")
        suite.add(f"{size}: change → last of {row['streams']:,} ADS streams has it", row["last stream s"] * 1000, "ms",
                  note=f"p50 {row['stream p50 s'] * 1000:.0f} ms")
        suite.add(f"{size}: shard CPU per proxy", row["shard CPU ms/proxy"], "ms",
                  note=f"{row['stand-in stores CPU ms/proxy']:.2f} ms of it the stand-in stores' own")
        suite.add(f"{size}: AWS dispatch", row["AWS dispatch ms"], "ms",
                  note="plan, cut and send on the recompute function: its reads of the dependency index (and of the "
                       "mesh, where a plan needs it) included")
        suite.add(f"{size}: AWS client CPU per proxy", row["AWS client CPU ms/proxy"], "ms",
                  note="boto3's CPU for the proxy's store calls, measured per call against the emulator, with "
                       "production's conversion of what a batch of resources returns")
        suite.add(f"{size}: store calls per proxy", row["store calls/proxy"], "calls")
        suite.add(f"{size}: bytes written per proxy", row["bytes written/proxy"], "B")
        suite.add(f"{size}: AWS projection, all shards at once", row["AWS all shards at once s"] * 1000, "ms",
                  target=aws_target, note=f"ShardConcurrency {SHARD_CONCURRENCY} covers {row['shards']} shards")
        suite.add(f"{size}: AWS projection, SQS standard scaling", row["AWS SQS standard scaling s"] * 1000, "ms")
        suite.add(f"{size}: AWS projection, all shards at once, cold containers", row["AWS cold containers s"] * 1000,
                  "ms", note=f"each shard also parses its part with nothing parsed before, as long as the largest "
                            f"part's {row['cold part items']:,} items take: {row['cold part parse ms']:.0f} ms of CPU")
    suite.tables["hot change, per mesh size"] = rows
    suite.tables["AWS latencies used"] = LATENCY_SOURCES
    suite.tables["client CPU per call (bench/client_cpu.py, against the emulator over HTTP)"] = [
        {"call": call, "CPU ms": ms} for call, ms in sorted(measured.items())]
    return suite
