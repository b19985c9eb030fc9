"""Fixtures for the images' entrypoints run natively: moto, a publisher, an ADS server, the real-Envoy lab."""

from __future__ import annotations

from delivery.conftest import ads, aws, moto_endpoint, publisher
from support.fixtures import envoy_runner, lab

__all__ = ["ads", "aws", "envoy_runner", "lab", "moto_endpoint", "publisher"]
