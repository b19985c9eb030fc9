"""The demo's certificate authority for mTLS between sidecars: the shared localnet CA."""

from __future__ import annotations

from pathlib import Path

from meshplane.localnet.pki import CertificateAuthority, Leaf

__all__ = ["Leaf", "LocalCA"]


class LocalCA(CertificateAuthority):
    """The localnet CA named for the demo; `create` is the demo's constructor."""

    @classmethod
    def create(cls, directory: Path, name: str = "meshplane demo CA") -> LocalCA:
        return cls(directory, name)
