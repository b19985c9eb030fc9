"""Running real processes on one machine: loopback addresses, a throwaway CA, Envoy and child processes.

Shared by `meshplane demo` and the test harness (tests/support), which must not
diverge: both put many sidecars on 127/8 with fixed ports and drive real Envoys.
"""
