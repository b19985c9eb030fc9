"""Lambda entry point of the `Meshplane` CloudFormation macro (see meshplane.migrate.cfn_macro)."""

from __future__ import annotations

from meshplane.migrate.handlers import macro as handler

__all__ = ["handler"]
