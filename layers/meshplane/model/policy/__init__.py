"""Typed meshplane policies: the spec container (`spec`) and one module per section."""
