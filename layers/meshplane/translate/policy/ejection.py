"""Envoy side of the `outlierDetection` section: success-rate and failure-percentage ejection.

Merged onto the App Mesh listener's `outlierDetection` of the same caller cluster.  Where the
listener sets none, the section's algorithms are the only ones: Envoy's consecutive-5xx
detector (on by default once a cluster has outlier detection) is turned off, so the policy
ejects for the reasons it names and no other.  Where the listener sets one, its consecutive-5xx
rule stays and the section's timing fields (interval, base ejection time, max ejection
percent) win over the listener's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.cluster.v3.outlier_detection_pb2 import OutlierDetection

from meshplane.translate.core import millis

if TYPE_CHECKING:  # the section models load only where a policy gives the section
    from meshplane.model.policy.ejection import FailurePercentage, OutlierDetectionExtra, SuccessRate

# Envoy takes the success-rate standard deviation factor in thousandths (1900 is 1.9).
_STDEV_SCALE = 1000


def _success_rate(out: OutlierDetection, rule: SuccessRate) -> None:
    out.enforcing_success_rate.value = 100 if rule.enforcing_percent is None else rule.enforcing_percent
    if rule.minimum_hosts is not None:
        out.success_rate_minimum_hosts.value = rule.minimum_hosts
    if rule.request_volume is not None:
        out.success_rate_request_volume.value = rule.request_volume
    if rule.stdev_factor is not None:
        out.success_rate_stdev_factor.value = round(rule.stdev_factor * _STDEV_SCALE)


def _failure_percentage(out: OutlierDetection, rule: FailurePercentage) -> None:
    out.failure_percentage_threshold.value = rule.threshold
    # Envoy enforces failure-percentage ejection at 0 % unless told: the section asks for it, so 100 %.
    out.enforcing_failure_percentage.value = 100 if rule.enforcing_percent is None else rule.enforcing_percent
    if rule.minimum_hosts is not None:
        out.failure_percentage_minimum_hosts.value = rule.minimum_hosts
    if rule.request_volume is not None:
        out.failure_percentage_request_volume.value = rule.request_volume


def merged(base: OutlierDetection | None, extra: OutlierDetectionExtra) -> OutlierDetection:
    """The caller cluster's outlier detection: `base` (App Mesh's, or None) with `extra` applied."""
    out = OutlierDetection()
    if base is not None:
        out.CopyFrom(base)
    else:
        out.enforcing_consecutive_5xx.value = 0
        out.enforcing_success_rate.value = 0
    if extra.success_rate is not None:
        _success_rate(out, extra.success_rate)
    if extra.failure_percentage is not None:
        _failure_percentage(out, extra.failure_percentage)
    if extra.interval is not None:
        out.interval.CopyFrom(millis(extra.interval.millis))
    if extra.base_ejection_duration is not None:
        out.base_ejection_time.CopyFrom(millis(extra.base_ejection_duration.millis))
    if extra.max_ejection_percent is not None:
        out.max_ejection_percent.value = extra.max_ejection_percent
    return out


def apply(cluster: Cluster, section: OutlierDetectionExtra | None) -> None:
    """Merge `section` onto the caller cluster's outlier detection (App Mesh's, if it has one)."""
    if section is None:
        return
    base = cluster.outlier_detection if cluster.HasField("outlier_detection") else None
    cluster.outlier_detection.CopyFrom(merged(base, section))
