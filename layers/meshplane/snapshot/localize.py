"""The loopback rebind under the name the file agent imports (`delivery/agent.py`).

The rebind itself is `snapshot.transform.bind_to`, with the other snapshot rewrites.
"""

from __future__ import annotations

from meshplane.snapshot.transform import bind_to

__all__ = ["bind_to"]
