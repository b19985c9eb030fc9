"""Traffic tests share the harness fixtures (`lab`, `envoy_runner`, `test_ca`)."""

from support.fixtures import envoy_runner, lab, test_ca

__all__ = ["envoy_runner", "lab", "test_ca"]
