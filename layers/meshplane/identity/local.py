"""`meshplane local up --secure`: the ADS arguments and the state entry that make the local stack's ADS secure.

The same code path as on AWS: TLS with a certificate of the node CA, node certificates
required, IAM decisions from the emulator's policy simulator, the credential exchange on
its own port, the CA published to the snapshot bucket. The CA lives in the state
directory, so a restarted ADS keeps it. Proofs go to the emulator (`AWS_ENDPOINT_URL`),
whose STS names the caller by access key without checking the signature: locally the
proof shows the plumbing, not the cryptography.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LOCAL_SERVER_NAME = "localhost"


def _files(state_dir: Path) -> tuple[Path, Path]:
    return state_dir / "identity" / "ca.pem", state_dir / "identity" / "ca-key.pem"


def ads_arguments(state_dir: Path, ads_port: int, identity_port: int | None) -> list[str]:
    """The ADS flags; the CA is made here, before the ADS starts, so the state's `caFile` exists once written."""
    from meshplane.identity.store import ca_from_files

    cert, key = _files(state_dir)
    ca_from_files(cert, key)
    port = identity_port if identity_port is not None else ads_port + 1
    return ["--ca-cert", str(cert), "--ca-key", str(key), "--server-name", LOCAL_SERVER_NAME,
            "--identity-port", str(port), "--require-node-identity"]  # fmt: skip


def state(state_dir: Path, ads_port: int, identity_port: int | None) -> dict[str, Any]:
    """What a sidecar needs: `meshplane identity --exchange-address ... --server-name ... --ca-file ...`."""
    return {
        "serverName": LOCAL_SERVER_NAME,
        "identityPort": identity_port if identity_port is not None else ads_port + 1,
        "caFile": str(_files(state_dir)[0]),
    }
