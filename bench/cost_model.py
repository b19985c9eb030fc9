"""Prices, the template's facts, and the arithmetic that turns counted calls into a monthly bill.

Prices are US East (N. Virginia), on-demand, free tiers left out, as the pages in
`PRICES` state them; `PRICES_CHECKED` is when they were looked up.  What the template
sets (function memory, the reconcile schedule, which functions poll SQS, the ADS task
size and count) is read from `template.yaml`, so the bill follows the stack.

What is counted and what is modelled, and why:
- counted (bench/callcount.py): every call the pipeline's code makes, its DynamoDB
  capacity, and every Lambda invocation with its measured duration;
- modelled from the template, because AWS makes them rather than meshplane's code:
  the SQS request EventBridge makes to deliver each ConfigPublished to
  ConfigPublishedQueue, the API Gateway request of an API call, and the empty
  ReceiveMessage calls of Lambda's SQS pollers and of the ADS replicas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from common import ROOT

REGION = "us-east-1"
PRICES_CHECKED = "2026-12-03"
HOURS_PER_MONTH = 730  # AWS's own monthly hour count in its calculators
LAMBDA_SQS_POLLERS = 5  # pollers Lambda keeps on an idle queue (assumed, see README)
LAMBDA_SQS_WAIT_SECONDS = 20  # Lambda long-polls with the longest wait


@dataclass(frozen=True)
class Price:
    usd: float
    per: str
    source: str


PRICES: dict[str, Price] = {
    "lambda_request": Price(0.20 / 1e6, "request", "https://git.mcrn.ar/mariano/lambda_local_runner/src/commit/"
                            "957e45b8adae23ce50b966346229585b5df18b4d/docs/lambdas-md/lambda-13-cost.md"),
    "lambda_arm_gb_second": Price(0.0000133334, "GB-second (arm64)", "https://cloudchipr.com/blog/aws-lambda-pricing"),
    "dynamodb_wru": Price(0.625 / 1e6, "write request unit (on-demand)",
                          "https://airbyte.com/data-engineering-resources/dynamodb-pricing"),
    "dynamodb_rru": Price(0.125 / 1e6, "read request unit (on-demand)",
                          "https://airbyte.com/data-engineering-resources/dynamodb-pricing"),
    "s3_put": Price(0.005 / 1000, "PUT, COPY, POST or LIST request", "https://c3x.dev/blog/s3-request-fees-explained"),
    "s3_get": Price(0.0004 / 1000, "GET or HEAD request", "https://c3x.dev/blog/s3-request-fees-explained"),
    "eventbridge_event": Price(1.00 / 1e6, "custom event published", "https://cloudburn.io/blog/amazon-eventbridge-pricing"),
    "sqs_request": Price(0.40 / 1e6, "standard queue request", "https://cloudburn.io/blog/amazon-sqs-pricing"),
    "sns_publish": Price(0.50 / 1e6, "standard topic publish (SQS deliveries free)",
                         "https://www.factualminds.com/blog/amazon-sns-pricing-publishes-fanout-protocols/"),
    "api_gateway_rest": Price(3.50 / 1e6, "REST API request", "https://docs.aws.amazon.com/pt_br/whitepapers/latest/"
                              "best-practices-api-gateway-private-apis-integration/cost-optimization.html"),
    "cloudmap_discovery": Price(1.00 / 1e6, "DiscoverInstances or DiscoverInstancesRevision call",
                                "not in the stored pricing pages: AWS's Cloud Map pricing page "
                                "(https://aws.amazon.com/cloud-map/pricing/), $1.00 per million discovery API calls"),
    "fargate_arm_vcpu_hour": Price(0.03238, "vCPU-hour (Linux/ARM)", "https://www.vantage.sh/blog/fargate-pricing"),
    "fargate_arm_gb_hour": Price(0.00356, "GB-hour (Linux/ARM)", "https://www.vantage.sh/blog/fargate-pricing"),
    "nlb_hour": Price(0.0225, "load balancer hour",
                      "https://clustercost.com/blog/network-load-balancer-pricing-2025"),
}


@dataclass(frozen=True)
class TemplateFacts:
    """What `template.yaml` sets that the bill depends on."""

    memory_mb: dict[str, int]  # function folder -> MemorySize
    reconcile_per_hour: float
    sweep_seconds: float  # the reconcile's full sweep, at least this often (ReconcileSweepSeconds)
    sqs_polled_functions: tuple[str, ...]
    ads_vcpu: float
    ads_memory_gb: float
    ads_tasks: int
    ads_load_balancers: int
    shard_threshold: int  # a change of more proxies than this goes to RecomputeShardFunction (ShardThreshold)
    shard_size: int  # proxies per shard, at most (ShardSize)


def _per_hour(schedule: str) -> float:
    """`rate(1 minute)`, `rate(5 minutes)`, `rate(1 hour)` -> runs per hour."""
    found = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours)\)", schedule.strip())
    if not found:
        raise ValueError(f"schedule {schedule!r} is not a rate() the cost model reads")
    count, unit = int(found.group(1)), found.group(2)
    return 60 / count if unit.startswith("minute") else 1 / count


FULL_VCPU_MB = 1769  # Lambda's memory at which a function has one whole vCPU; below it, CPU time stretches


@cache
def template_facts() -> TemplateFacts:
    from meshplane.local.template import load_sam_template

    template: dict[str, Any] = load_sam_template(ROOT / "template.yaml")
    resources, parameters = template["Resources"], template["Parameters"]
    memory: dict[str, int] = {}
    polled: list[str] = []
    for resource in resources.values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        name = str(props["CodeUri"]).rstrip("/").split("/")[-1]
        memory[name] = int(props.get("MemorySize", 128))
        if any(e.get("Type") == "SQS" for e in props.get("Events", {}).values()):
            polled.append(name)
    task = next(r for r in resources.values() if r.get("Type") == "AWS::ECS::TaskDefinition")["Properties"]
    load_balancers = sum(1 for r in resources.values() if r.get("Type") == "AWS::ElasticLoadBalancingV2::LoadBalancer")
    return TemplateFacts(
        memory_mb=memory,
        reconcile_per_hour=_per_hour(parameters["ReconcileSchedule"]["Default"]),
        sweep_seconds=float(parameters["ReconcileSweepSeconds"]["Default"]),
        sqs_polled_functions=tuple(sorted(polled)),
        ads_vcpu=int(task["Cpu"]) / 1024,
        ads_memory_gb=int(task["Memory"]) / 1024,
        ads_tasks=int(parameters["AdsDesiredCount"]["Default"]),
        ads_load_balancers=load_balancers,
        shard_threshold=int(parameters["ShardThreshold"]["Default"]),
        shard_size=int(parameters["ShardSize"]["Default"]),
    )


def usd(key: str, quantity: float) -> float:
    return PRICES[key].usd * quantity


def ads_poll_wait_seconds() -> int:
    from meshplane.delivery.defaults import POLL_WAIT_SECONDS

    return int(POLL_WAIT_SECONDS)


def standing_ads_month() -> dict[str, float]:
    """What the optional ADS service costs a month before any change: Fargate, the NLB, its SQS long polls."""
    facts = template_facts()
    hours = HOURS_PER_MONTH * facts.ads_tasks
    polls = facts.ads_tasks * 3600 / ads_poll_wait_seconds() * HOURS_PER_MONTH
    return {
        "Fargate vCPU": usd("fargate_arm_vcpu_hour", hours * facts.ads_vcpu),
        "Fargate memory": usd("fargate_arm_gb_hour", hours * facts.ads_memory_gb),
        "NLB hours": usd("nlb_hour", HOURS_PER_MONTH * facts.ads_load_balancers),
        "SQS long polls": usd("sqs_request", polls),
    }


def lambda_sqs_polls_per_hour() -> float:
    """Empty ReceiveMessage calls Lambda's pollers make on the template's SQS-triggered functions in an hour."""
    facts = template_facts()
    return len(facts.sqs_polled_functions) * LAMBDA_SQS_POLLERS * 3600 / LAMBDA_SQS_WAIT_SECONDS


def agent_polls_per_proxy_month() -> float:
    """S3 GETs one file-mode agent makes in a month at its default interval.

    A conditional GET answered `304 Not Modified` is billed as a GET (shown with a Cost and Usage Report in
    https://newbetuts.com/908825-when-a-get-request-to-amazon-s3-returns-304-not-modified-does-it-also-count-against-request-quota).
    """
    from meshplane.delivery.defaults import AGENT_INTERVAL_SECONDS

    return 3600 / float(AGENT_INTERVAL_SECONDS) * HOURS_PER_MONTH
