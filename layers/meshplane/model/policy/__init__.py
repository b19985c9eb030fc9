"""Typed meshplane policies: the spec container and one module per section."""
