"""The test CA: the shared `meshplane.localnet.pki` authority under a test name."""

from __future__ import annotations

from pathlib import Path

from meshplane.localnet.pki import CertificateAuthority, Leaf

__all__ = ["Leaf", "TestCA"]


class TestCA(CertificateAuthority):
    """A self-signed root that writes itself and the leaves it issues under `directory`."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path, common_name: str = "meshplane test CA") -> None:
        super().__init__(directory, common_name)
