"""Envoy constructors for the typed policy sections, one module per section."""
