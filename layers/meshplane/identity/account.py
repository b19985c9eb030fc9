"""The account whose meshes an ADS server serves, and the node ARNs it answers for."""

from __future__ import annotations

from dataclasses import dataclass

from meshplane.model.ids import ProxyId


class ForeignNode(ValueError):
    """A node id that names another partition, region or account than the server's own."""


@dataclass(frozen=True)
class MeshAccount:
    """(partition, region, account) of the server; every node it serves has its ARN here."""

    partition: str
    region: str
    account: str

    @classmethod
    def from_caller_arn(cls, arn: str, region: str) -> MeshAccount:
        """The server's own account, from its `sts:GetCallerIdentity` ARN (`arn:<partition>:sts::<account>:...`)."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or not parts[4].isdigit():
            raise ValueError(f"not a caller ARN: {arn!r}")
        return cls(parts[1], region, parts[4])

    def node_arn(self, proxy: ProxyId) -> str:
        return f"arn:{self.partition}:appmesh:{self.region}:{self.account}:{proxy.path}"

    def proxy(self, node_id: str) -> ProxyId:
        """Parse a node id; an ARN must be this account's own ARN for it (ForeignNode otherwise)."""
        proxy = ProxyId.parse(node_id)
        if node_id.startswith("arn:") and node_id != self.node_arn(proxy):
            raise ForeignNode(f"{node_id} is not a node of account {self.account} in {self.partition}/{self.region}")
        return proxy

    def principal_arn_is_ours(self, arn: str) -> bool:
        parts = arn.split(":", 5)
        return len(parts) == 6 and parts[1] == self.partition and parts[4] == self.account
