"""Canary rollouts: the declared spec (`spec`), the stored progress (`state`) and the pure controller (`controller`)."""
