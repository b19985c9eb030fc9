"""Envoy bootstraps for meshplane sidecars and gateways, and the platform snippets around them."""
