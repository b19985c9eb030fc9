"""Least-privilege S3 read access for one file-mode proxy: its own pointer and snapshots, nothing else.

A file-mode sidecar (`meshplane agent`) reads `pointers/<mesh>/<kind>/<name>.json` and
the snapshot object it names under `snapshots/<mesh>/<kind>/<name>/`.  Snapshots carry
exported ACM keys, so a task role that may read the bucket must not read other proxies'
objects: either a per-node policy (`node_policy`, `meshplane bootstrap --emit iam-policy`)
or one managed policy for every proxy role (`abac_policy`), whose resources are built
from the role's tags `meshplane:mesh` and `meshplane:virtualNode` / `meshplane:virtualGateway`
(`role_tags`, `--emit iam-role-tags`).  IAM tag values cannot hold `*` or `?`, so a tag
never widens the ABAC form; names in the per-node form are checked for the same reason.
Neither grants `s3:ListBucket`: a missing pointer reads as AccessDenied, not NoSuchKey.
"""

from __future__ import annotations

import re
from typing import Any

from meshplane.model.ids import Kind, ProxyId
from meshplane.publication.layout import POINTER_PREFIX, POINTER_SUFFIX, SNAPSHOT_PREFIX

MESH_TAG = "meshplane:mesh"
NAME_TAGS = {Kind.VIRTUAL_NODE: "meshplane:virtualNode", Kind.VIRTUAL_GATEWAY: "meshplane:virtualGateway"}
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}")  # App Mesh names as meshplane accepts them
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_PARTITION = re.compile(r"aws(-[a-z]+)*")
VERSION = "2012-10-17"


def node_policy(proxy: ProxyId, bucket: str, partition: str = "aws") -> dict[str, Any]:
    """The identity policy letting one proxy's role read exactly its own pointer and snapshots."""
    for what, name in (("mesh", proxy.mesh), (proxy.kind.value, proxy.name)):
        if not _NAME.fullmatch(name) or ".." in name:
            raise ValueError(f"{what} name {name!r}: only letters, digits, '-', '_' and '.' may appear in a policy")
    prefix = _bucket_arn(bucket, partition)
    where = f"{proxy.mesh}/{proxy.kind.value}/{proxy.name}"
    return {"Version": VERSION, "Statement": [{
        "Sid": "ReadOwnMeshplaneSnapshots",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": _objects(prefix, where),
    }]}


def _objects(bucket_arn: str, where: str) -> list[str]:
    """The pointer and the snapshots of the proxy at `where` (`<mesh>/<kind>/<name>`), in publication's layout."""
    return [f"{bucket_arn}/{POINTER_PREFIX}{where}{POINTER_SUFFIX}", f"{bucket_arn}/{SNAPSHOT_PREFIX}{where}/*"]


def abac_policy(bucket: str, partition: str = "aws") -> dict[str, Any]:
    """One policy for every proxy role: each reads the objects its own tags name."""
    return {"Version": VERSION, "Statement": abac_statements(_bucket_arn(bucket, partition))}


def abac_statements(bucket_arn: str) -> list[dict[str, Any]]:
    """The ABAC statements for a bucket ARN (a literal, or `${SnapshotBucket.Arn}` in a template)."""
    statements = []
    for kind, tag in NAME_TAGS.items():
        where = f"${{aws:PrincipalTag/{MESH_TAG}}}/{kind.value}/${{aws:PrincipalTag/{tag}}}"
        statements.append({
            "Sid": f"ReadOwn{kind.value[0].upper()}{kind.value[1:]}Snapshots",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": _objects(bucket_arn, where),
        })
    return statements


def role_tags(proxy: ProxyId) -> list[dict[str, str]]:
    """The tags that make `abac_policy` grant `proxy`'s objects to a role (IAM `Tags` shape)."""
    return [{"Key": MESH_TAG, "Value": proxy.mesh}, {"Key": NAME_TAGS[proxy.kind], "Value": proxy.name}]


def _bucket_arn(bucket: str, partition: str) -> str:
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(f"bucket {bucket!r}: not an S3 bucket name")
    if not _PARTITION.fullmatch(partition):
        raise ValueError(f"partition {partition!r}: not an AWS partition")
    return f"arn:{partition}:s3:::{bucket}"
