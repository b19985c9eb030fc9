"""Lambda entry point of the `Custom::Meshplane<Type>` resource provider (see meshplane.migrate.cfn_provider)."""

from __future__ import annotations

from meshplane.migrate.handlers import provider as handler

__all__ = ["handler"]
