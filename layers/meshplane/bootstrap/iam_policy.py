"""Least-privilege access for one file-mode proxy: read its own pointer and snapshots, record its own status.

A file-mode sidecar (`meshplane agent`) reads `pointers/<mesh>/<kind>/<name>.json` and
the snapshot object it names under `snapshots/<mesh>/<kind>/<name>/`.  Snapshots carry
exported ACM keys, so a task role that may read the bucket must not read other proxies'
objects: either a per-node policy (`node_policy`, `meshplane bootstrap --emit iam-policy`)
or one managed policy for every proxy role (`abac_policy`), whose resources are built
from the role's tags `meshplane:mesh` and `meshplane:virtualNode` / `meshplane:virtualGateway`
(`role_tags`, `--emit iam-role-tags`).  IAM tag values cannot hold `*` or `?`, so a tag
never widens the ABAC form; names in the per-node form are checked for the same reason.
Neither grants `s3:ListBucket`: a missing pointer reads as AccessDenied, not NoSuchKey.

With the state table (`meshplane agent --table`) the agent also records its Envoy's status
(`store.proxy_status`): `dynamodb:PutItem` alone, on the proxy's own status partition
(`dynamodb:LeadingKeys`, one partition per proxy), with only the attributes a status item
has (`dynamodb:Attributes`) and nothing returned (`dynamodb:ReturnValues`).  No read, no
batch, no update or delete: the agent makes none.  Every Envoy of one proxy shares its
role, so the partition, not the item, is the narrowest bound IAM can draw here.
"""

from __future__ import annotations

import re
from typing import Any

from meshplane.model.ids import Kind, ProxyId
from meshplane.publication.layout import POINTER_PREFIX, POINTER_SUFFIX, SNAPSHOT_PREFIX
from meshplane.store.proxy_status import ATTRIBUTES, partition_of

MESH_TAG = "meshplane:mesh"
NAME_TAGS = {Kind.VIRTUAL_NODE: "meshplane:virtualNode", Kind.VIRTUAL_GATEWAY: "meshplane:virtualGateway"}
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}")  # App Mesh names as meshplane accepts them
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_PARTITION = re.compile(r"aws(-[a-z]+)*")
_TABLE_ARN = re.compile(r"arn:aws(-[a-z]+)*:dynamodb:[a-z0-9-]+:\d{12}:table/[A-Za-z0-9_.-]{3,255}")
VERSION = "2012-10-17"


def node_policy(proxy: ProxyId, bucket: str, partition: str = "aws", table_arn: str | None = None) -> dict[str, Any]:
    """The identity policy letting one proxy's role read exactly its own pointer and snapshots, and with
    `table_arn` record its own status."""
    for what, name in (("mesh", proxy.mesh), (proxy.kind.value, proxy.name)):
        if not _NAME.fullmatch(name) or ".." in name:
            raise ValueError(f"{what} name {name!r}: only letters, digits, '-', '_' and '.' may appear in a policy")
    prefix = _bucket_arn(bucket, partition)
    where = f"{proxy.mesh}/{proxy.kind.value}/{proxy.name}"
    statements = [{
        "Sid": "ReadOwnMeshplaneSnapshots",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": _objects(prefix, where),
    }]
    if table_arn is not None:
        if not _TABLE_ARN.fullmatch(table_arn):
            raise ValueError(f"table ARN {table_arn!r}: not a DynamoDB table ARN")
        statements.append(status_statement("RecordOwnMeshplaneStatus", table_arn,
                                           partition_of(proxy.mesh, proxy.kind.value, proxy.name)))
    return {"Version": VERSION, "Statement": statements}


def status_statement(sid: str, table_arn: str, status_partition: str) -> dict[str, Any]:
    """PutItem of status items in one partition, with a status item's attributes only and nothing returned."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": "dynamodb:PutItem",
        "Resource": [table_arn],
        "Condition": {
            "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [status_partition],
                                          "dynamodb:Attributes": list(ATTRIBUTES)},
            "Null": {"dynamodb:LeadingKeys": "false"},  # ForAllValues alone holds for a request without keys
            "StringEqualsIfExists": {"dynamodb:ReturnValues": "NONE"},
        },
    }


def _objects(bucket_arn: str, where: str) -> list[str]:
    """The pointer and the snapshots of the proxy at `where` (`<mesh>/<kind>/<name>`), in publication's layout."""
    return [f"{bucket_arn}/{POINTER_PREFIX}{where}{POINTER_SUFFIX}", f"{bucket_arn}/{SNAPSHOT_PREFIX}{where}/*"]


def abac_policy(bucket: str, partition: str = "aws", table_arn: str | None = None) -> dict[str, Any]:
    """One policy for every proxy role: each reads the objects its own tags name, and with `table_arn` records
    the status its tags name."""
    return {"Version": VERSION, "Statement": abac_statements(_bucket_arn(bucket, partition), table_arn)}


def abac_statements(bucket_arn: str, table_arn: str | None = None) -> list[dict[str, Any]]:
    """The ABAC statements for a bucket ARN and a table ARN (literals, or `${SnapshotBucket.Arn}` and
    `${StateTable.Arn}` in a template)."""
    statements = []
    for kind, tag in NAME_TAGS.items():
        where = f"${{aws:PrincipalTag/{MESH_TAG}}}/{kind.value}/${{aws:PrincipalTag/{tag}}}"
        statements.append({
            "Sid": f"ReadOwn{_title(kind)}Snapshots",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": _objects(bucket_arn, where),
        })
    if table_arn is not None:
        for kind, tag in NAME_TAGS.items():
            own = partition_of(f"${{aws:PrincipalTag/{MESH_TAG}}}", kind.value, f"${{aws:PrincipalTag/{tag}}}")
            statements.append(status_statement(f"RecordOwn{_title(kind)}Status", table_arn, own))
    return statements


def _title(kind: Kind) -> str:
    return f"{kind.value[0].upper()}{kind.value[1:]}"


def role_tags(proxy: ProxyId) -> list[dict[str, str]]:
    """The tags that make `abac_policy` grant `proxy`'s objects to a role (IAM `Tags` shape)."""
    return [{"Key": MESH_TAG, "Value": proxy.mesh}, {"Key": NAME_TAGS[proxy.kind], "Value": proxy.name}]


def _bucket_arn(bucket: str, partition: str) -> str:
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(f"bucket {bucket!r}: not an S3 bucket name")
    if not _PARTITION.fullmatch(partition):
        raise ValueError(f"partition {partition!r}: not an AWS partition")
    return f"arn:{partition}:s3:::{bucket}"
