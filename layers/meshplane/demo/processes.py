"""Every process the demo starts: the shared `meshplane.localnet.processes` supervisor."""

from meshplane.localnet.processes import Child, Supervisor, alive, descendants, signal_group, stop_group

__all__ = ["Child", "Supervisor", "alive", "descendants", "signal_group", "stop_group"]
