"""An EDS egress cluster written as bytes: CDS holds one per backend, most of them alike but for their name.

A cluster's name is field 1 and its EDS service name (the same name) is the last field of
`eds_cluster_config` (field 3).  Deterministic serialisation writes fields in field-number order,
each behind its tag and length, a sub-message exactly as it serialises on its own; so a cluster
built once without either name, serialised and split around them, is completed for any name by
joining bytes, which is what protobuf writes for the cluster built with it
(`tests/translate/test_cds_wire.py` holds them equal).
"""

from __future__ import annotations

from dataclasses import dataclass

from envoy.config.cluster.v3.cluster_pb2 import Cluster

from meshplane.snapshot.packing import delimited

_NAME = b"\x0a"  # Cluster.name = 1
_EDS_CONFIG = b"\x1a"  # Cluster.eds_cluster_config = 3
_SERVICE_NAME = b"\x12"  # Cluster.EdsClusterConfig.service_name = 2


@dataclass(frozen=True)
class EdsTemplate:
    """A nameless EDS cluster serialised around its two names."""

    discovery: bytes  # the `type` field (2)
    eds: bytes  # `eds_cluster_config`'s own fields before the service name (its config source)
    rest: bytes  # every field after `eds_cluster_config`

    @classmethod
    def of(cls, cluster: Cluster) -> EdsTemplate:
        """Split `cluster`: an EDS cluster without a name or a service name."""
        if cluster.name or cluster.eds_cluster_config.service_name or cluster.type != Cluster.EDS:
            raise ValueError("a template is an EDS cluster without names")
        whole = cluster.SerializeToString(deterministic=True)
        discovery = Cluster(type=cluster.type).SerializeToString(deterministic=True)
        eds = cluster.eds_cluster_config.SerializeToString(deterministic=True)
        head = discovery + delimited(_EDS_CONFIG, eds)
        if not whole.startswith(head):
            raise ValueError("a template holds no field between its type and its EDS config")
        return cls(discovery, eds, whole[len(head) :])

    def named(self, name: str) -> bytes:
        """The deterministic bytes of the cluster `name`, whose EDS service name is `name` too."""
        raw = name.encode()
        eds = self.eds + delimited(_SERVICE_NAME, raw)
        return b"".join((delimited(_NAME, raw), self.discovery, delimited(_EDS_CONFIG, eds), self.rest))
