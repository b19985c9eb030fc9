"""Clusters written as bytes from a template: CDS holds many that are alike but for their name.

An EDS egress cluster (one per backend) names itself in field 1 and again as the EDS service name,
the last field of `eds_cluster_config` (field 3).  A sidecar's static cluster to its own app (one
per listener, every proxy of a mesh with the same few shapes) names itself in field 1 and again as
the `cluster_name` of its `load_assignment` (field 33), that message's first field.  Deterministic
serialisation writes fields in field-number order, each behind its tag and length, a sub-message
exactly as it serialises on its own; so a cluster built once without either name, serialised and
split around them, is completed for any name by joining bytes, which is what protobuf writes for
the cluster built with it (`tests/translate/test_cds_wire.py` holds them equal).
"""

from __future__ import annotations

from dataclasses import dataclass

from envoy.config.cluster.v3.cluster_pb2 import Cluster

from meshplane.snapshot.packing import delimited, varint

_NAME = b"\x0a"  # Cluster.name = 1
_EDS_CONFIG = b"\x1a"  # Cluster.eds_cluster_config = 3
_SERVICE_NAME = b"\x12"  # Cluster.EdsClusterConfig.service_name = 2
_LOAD_ASSIGNMENT_NUMBER = 33  # Cluster.load_assignment
_LOAD_ASSIGNMENT = varint(_LOAD_ASSIGNMENT_NUMBER << 3 | 2)
_ASSIGNED_NAME = b"\x0a"  # ClusterLoadAssignment.cluster_name = 1


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


@dataclass(frozen=True)
class StaticTemplate:
    """A nameless cluster with a load assignment serialised around its two names."""

    head: bytes  # the cluster's fields numbered between its name and its load assignment
    assignment: bytes  # the load assignment's fields after its cluster name
    tail: bytes  # the cluster's fields numbered after its load assignment

    @classmethod
    def of(cls, cluster: Cluster) -> StaticTemplate:
        """Split `cluster`: one with a load assignment, neither named."""
        if cluster.name or cluster.load_assignment.cluster_name or not cluster.HasField("load_assignment"):
            raise ValueError("a template is a cluster with a load assignment, without names")
        head, tail = Cluster(), Cluster()
        head.CopyFrom(cluster)
        tail.CopyFrom(cluster)
        for field, _ in cluster.ListFields():
            if field.number >= _LOAD_ASSIGNMENT_NUMBER:
                head.ClearField(field.name)
            if field.number <= _LOAD_ASSIGNMENT_NUMBER:
                tail.ClearField(field.name)
        template = cls(head.SerializeToString(deterministic=True),
                       cluster.load_assignment.SerializeToString(deterministic=True),
                       tail.SerializeToString(deterministic=True))
        if template.named("") != cluster.SerializeToString(deterministic=True):
            raise ValueError("a template's fields serialise in field-number order around its load assignment")
        return template

    def named(self, name: str) -> bytes:
        """The deterministic bytes of the cluster `name`, whose load assignment names `name` too."""
        raw = name.encode()
        assignment = delimited(_ASSIGNED_NAME, raw) + self.assignment if raw else self.assignment
        return b"".join((delimited(_NAME, raw) if raw else b"", self.head, delimited(_LOAD_ASSIGNMENT, assignment),
                         self.tail))
