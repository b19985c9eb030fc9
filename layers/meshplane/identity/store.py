"""Where the node CA lives, and where proxies find its certificate.

- Files (`--ca-cert/--ca-key`), for a server run by hand or `meshplane local up`: made
  on first use when neither file exists, the key written 0600.
- A Secrets Manager secret (`--ca-secret-arn`) on AWS, JSON `{"certificate", "privateKey"}`.
  The first replica to find it without a CA makes one and puts it with a fixed
  `ClientRequestToken`; Secrets Manager refuses a second, different value for a token
  that exists, so when replicas race exactly one CA is stored, and every replica uses
  what AWSCURRENT holds after its own attempt.
- Published, certificate only, as `identity/ca.pem` in the snapshot bucket. A proxy
  reads it with its own IAM credentials over TLS before its first exchange, so its trust
  in the ADS is rooted in IAM like the rest; `GET /v1/ca` of the exchange endpoint is
  the same certificate but, fetched over a connection it would itself authenticate,
  proves nothing on first use.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from meshplane.identity.ca import NodeCA
from meshplane.identity.defaults import CA_OBJECT_KEY
from meshplane.wirelogs import keep_bodies_out_of_logs

log = logging.getLogger(__name__)
# Secrets Manager wants 32 to 64 characters; fixed, so that racing replicas collide on it.
CA_VERSION_TOKEN = "meshplane-node-ca-initial-version-0001"
REREAD_ATTEMPTS = 5


def _write_private(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(path)


def ca_from_files(cert: Path, key: Path) -> NodeCA:
    """Load the CA from its two PEM files, or make and write one when neither exists."""
    if not cert.exists() and not key.exists():
        ca = NodeCA.generate()
        _write_private(key, ca.key_pem, 0o600)
        _write_private(cert, ca.certificate_pem, 0o644)
        log.info("made a new node CA in %s", cert)
        return ca
    return NodeCA.from_pem(cert.read_bytes(), key.read_bytes())


def _read_secret(secrets: Any, secret_id: str) -> NodeCA | None:
    from botocore.exceptions import ClientError

    try:
        value = secrets.get_secret_value(SecretId=secret_id).get("SecretString") or ""
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None  # a secret created without a value
        raise
    try:
        document = json.loads(value)
        return NodeCA.from_pem(document["certificate"].encode(), document["privateKey"].encode())
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # a placeholder value, e.g. the one CloudFormation generated


def ca_from_secret(secrets: Any, secret_id: str, sleep: Any = time.sleep) -> NodeCA:
    """The CA in the secret; the first replica to find none stores one, racing replicas agree on one."""
    from botocore.exceptions import ClientError

    keep_bodies_out_of_logs()  # the secret's value is the CA's private key
    found = _read_secret(secrets, secret_id)
    if found is not None:
        return found
    mine = NodeCA.generate()
    document = {"certificate": mine.certificate_pem.decode(), "privateKey": mine.key_pem.decode()}
    try:
        secrets.put_secret_value(SecretId=secret_id, ClientRequestToken=CA_VERSION_TOKEN,
                                 SecretString=json.dumps(document))  # fmt: skip
        log.info("stored a new node CA in %s", secret_id)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceExistsException":
            raise
        log.info("another replica stored the node CA in %s first", secret_id)
    for attempt in range(REREAD_ATTEMPTS):
        current = _read_secret(secrets, secret_id)
        if current is not None:
            return current
        sleep(0.5 * (attempt + 1))
    raise RuntimeError(f"{secret_id} holds no node CA after storing one")


def publish_ca(s3: Any, bucket: str, ca: NodeCA, key: str = CA_OBJECT_KEY) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=ca.certificate_pem, ContentType="application/x-pem-file")
