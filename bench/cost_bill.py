"""A counted scenario as billed quantities and dollars, and the idle month built from the measured passes.

Lambda's GB-seconds are priced from each invocation's duration projected for AWS
(`projected_seconds`), not from its wall time here: against moto on this shared 2-core
machine a DynamoDB call takes tens of milliseconds and moto's own CPU competes with the
function's, so the wall clock mostly measures the emulator.  The projection is the hot
suite's (`bench/suite_hot.py`, whose published latency table it imports):
- the invocation's own CPU time, measured (this process's threads; moto runs in another),
  stretched to the function's share of a vCPU (Lambda gives one vCPU at 1,769 MB);
- plus each call at its service's published latency; a service that table has no figure
  for (Cloud Map, ECS) at the time the call took here, so it is overstated, not guessed;
- calls made on the invoking thread one after another; those of a thread pool as the pool
  ran them: per pool, its busiest thread's calls (the pools of one invocation one after
  another).
The measured wall time stays beside it in every row (`lambda_seconds`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cost_model as m
from suite_hot import LATENCY_MS

if TYPE_CHECKING:
    from cost_world import Invocation, Scenario

MAIN_THREAD = "MainThread"

DISCOVERY = ("servicediscovery:DiscoverInstances", "servicediscovery:DiscoverInstancesRevision")
# priced quantity -> (price key, the row's column); the order is the bill's
LINES: tuple[tuple[str, str], ...] = (
    ("lambda_requests", "lambda_request"),
    ("lambda_gb_seconds", "lambda_arm_gb_second"),
    ("dynamodb_rru", "dynamodb_rru"),
    ("dynamodb_wru", "dynamodb_wru"),
    ("s3_put_list", "s3_put"),
    ("s3_get", "s3_get"),
    ("eventbridge_events", "eventbridge_event"),
    ("sqs_requests", "sqs_request"),
    ("cloudmap_discovery", "cloudmap_discovery"),
    ("api_gateway_requests", "api_gateway_rest"),
)


def call_seconds(calls: list[tuple[str, float]]) -> float:
    """Calls one after another: each at its service's published latency, or at its measured time without one."""
    return sum(LATENCY_MS[service] / 1000 if service in LATENCY_MS else took for service, took in calls)


def projected_seconds(invocation: Invocation) -> float:
    """The invocation's duration projected for AWS: CPU at its function's vCPU share, plus its calls."""
    memory = m.template_facts().memory_mb[invocation.function]
    cpu = invocation.cpu_seconds * max(1.0, m.FULL_VCPU_MB / memory)
    pools: dict[str, float] = {}
    serial = 0.0
    for thread, calls in invocation.tally.threads.items():
        if thread == MAIN_THREAD:
            serial += call_seconds(calls)
        else:  # ThreadPoolExecutor names its threads <pool>_<n>
            pool = thread.rsplit("_", 1)[0]
            pools[pool] = max(pools.get(pool, 0.0), call_seconds(calls))
    return cpu + serial + sum(pools.values())


def quantities(scenario: Scenario) -> dict[str, float]:
    """What one scenario bills, by priced quantity (counted, plus the deliveries AWS makes for it)."""
    memory = m.template_facts().memory_mb
    tally = scenario.tally
    gb_seconds = sum(memory[i.function] / 1024 * projected_seconds(i) for i in scenario.invocations)
    return {
        "lambda_requests": float(len(scenario.invocations)),
        "lambda_gb_seconds": gb_seconds,
        "dynamodb_rru": tally.read_units,
        "dynamodb_wru": tally.write_units,
        "s3_put_list": float(tally.s3["PUT"] + tally.s3["LIST"]),
        "s3_get": float(tally.s3["GET"]),
        "eventbridge_events": float(tally.events_entries),
        # EventBridge's SendMessage of each ConfigPublished into ConfigPublishedQueue (the template's rule), the
        # pipeline's own SQS calls (a hot change's shards), Lambda's receive and delete of each shard
        "sqs_requests": float(tally.events_entries + tally.service_calls("sqs") + scenario.poller_requests),
        "cloudmap_discovery": float(sum(tally.calls[c] for c in DISCOVERY)),
        "api_gateway_requests": float(sum(1 for i in scenario.invocations if i.function == "api")),
    }


def requests(quantity: dict[str, float], scenario: Scenario) -> float:
    """Billed requests: every priced request (Lambda, DynamoDB, S3, EventBridge, SQS, Cloud Map, API Gateway),
    a DynamoDB call counting as one whatever the units it consumes (`request_units` counts those)."""
    return _others(quantity) + scenario.tally.service_calls("dynamodb")


def request_units(quantity: dict[str, float]) -> float:
    """The same with DynamoDB counted as the read and write request units it bills (a page of a Query is many)."""
    return _others(quantity) + quantity["dynamodb_rru"] + quantity["dynamodb_wru"]


def _others(quantity: dict[str, float]) -> float:
    return (quantity["lambda_requests"] + quantity["s3_put_list"] + quantity["s3_get"]
            + quantity["eventbridge_events"] + quantity["sqs_requests"] + quantity["cloudmap_discovery"]
            + quantity["api_gateway_requests"])


def dollars(quantity: dict[str, float]) -> float:
    return sum(m.usd(price, quantity[name]) for name, price in LINES)


def row(nodes: int, scenario: Scenario, affected: int | None) -> dict[str, Any]:
    """One scenario's table row: its invocations, billed quantities, requests and dollars."""
    quantity = quantities(scenario)
    billed = requests(quantity, scenario)
    functions: dict[str, int] = {}
    for invocation in scenario.invocations:
        functions[invocation.function] = functions.get(invocation.function, 0) + 1
    return {
        "nodes": nodes,
        "scenario": scenario.name,
        "invocations": ", ".join(f"{f} {n}" for f, n in sorted(functions.items())),
        "lambda_seconds": round(sum(i.seconds for i in scenario.invocations), 3),
        "lambda_cpu_seconds": round(sum(i.cpu_seconds for i in scenario.invocations), 3),
        "lambda_projected_seconds": round(sum(projected_seconds(i) for i in scenario.invocations), 3),
        **{k: round(v, 4) for k, v in quantity.items()},
        "published": scenario.published,
        "affected": affected if affected is not None else "",
        "billed_requests": billed,
        "per_affected_proxy": round(billed / affected, 2) if affected else "",
        "request_units": round(request_units(quantity), 1),
        "units_per_affected_proxy": round(request_units(quantity) / affected, 2) if affected else "",
        "usd": round(dollars(quantity), 6),
        "calls": ", ".join(f"{k} {v}" for k, v in sorted(scenario.tally.calls.items())),
    }


def idle_hour(quiet_pass: dict[str, Any], sweep: dict[str, Any], sweep_seconds: float,
              per_hour: float | None = None) -> dict[str, float]:
    """The template's schedule for an hour without changes: reconcile passes (a sweep every `sweep_seconds`,
    quiet passes otherwise) and Lambda's pollers on its SQS sources.  `per_hour` replaces the template's
    reconcile rate (what another `ReconcileSchedule` would cost)."""
    per_hour = m.template_facts().reconcile_per_hour if per_hour is None else per_hour
    sweeps = min(per_hour, 3600 / sweep_seconds) if sweep_seconds > 0 else per_hour
    hour = {name: (per_hour - sweeps) * float(quiet_pass[name]) + sweeps * float(sweep[name]) for name, _ in LINES}
    hour["sqs_requests"] += m.lambda_sqs_polls_per_hour()
    return hour


def month_lines(hour: dict[str, float]) -> dict[str, float]:
    """An idle month, in dollars per priced quantity."""
    return {name: m.usd(price, hour[name] * m.HOURS_PER_MONTH) for name, price in LINES}
