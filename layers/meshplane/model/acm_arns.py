"""The ACM certificate and ACM PCA authority ARNs a spec names, and whose account and region they are in.

A listener's `tls.certificate.acm.certificateArn` is exported (private key included)
into the proxy's snapshot, and a client policy's `trust.acm.certificateAuthorityArns`
are read from ACM PCA.  The control plane's roles may do both for the whole account,
so the API checks every such ARN at write time and the pipeline checks it again before
it asks ACM: only the stack's own partition, region and account are served.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

CERTIFICATE = "certificate"
AUTHORITY = "authority"
_SERVICE = {CERTIFICATE: "acm", AUTHORITY: "acm-pca"}
_RESOURCE = {CERTIFICATE: re.compile(r"certificate/[A-Za-z0-9-]+"),
             AUTHORITY: re.compile(r"certificate-authority/[A-Za-z0-9-]+")}


@dataclass(frozen=True)
class AcmRef:
    field: str  # where the spec names it, e.g. `listeners[0].tls.certificate.acm.certificateArn`
    arn: str
    kind: str  # CERTIFICATE (exported with its key) or AUTHORITY (a CA certificate)


@dataclass(frozen=True)
class Home:
    """The partition, region and account whose ACM resources this stack may use."""

    partition: str
    region: str
    account: str

    def refusal(self, arn: str, kind: str) -> str | None:
        """Why `arn` is not an ACM (or ACM PCA) resource of this home; None when it is."""
        service = _SERVICE[kind]
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != service or not _RESOURCE[kind].fullmatch(parts[5]):
            return f"{arn} is not an {service} {kind} ARN"
        partition, region, account = parts[1], parts[3], parts[4]
        if (partition, region, account) != (self.partition, self.region, self.account):
            return (f"{arn} is in partition {partition}, region {region}, account {account}; only "
                    f"{self.partition}/{self.region}/{self.account} is served")
        return None


def acm_refs(spec: Any) -> list[AcmRef]:
    """Every ACM certificate and PCA authority ARN in a spec (a generated model or its wire dict)."""
    wire = spec.model_dump(by_alias=True, exclude_none=True) if hasattr(spec, "model_dump") else spec
    return list(_walk(wire, ""))


def _walk(value: Any, path: str) -> Iterator[AcmRef]:
    if isinstance(value, Mapping):
        acm = value.get("acm")
        if isinstance(acm, Mapping):
            arn = acm.get("certificateArn")
            if isinstance(arn, str):
                yield AcmRef(f"{path}.acm.certificateArn".lstrip("."), arn, CERTIFICATE)
            for i, authority in enumerate(acm.get("certificateAuthorityArns") or ()):
                if isinstance(authority, str):
                    yield AcmRef(f"{path}.acm.certificateAuthorityArns[{i}]".lstrip("."), authority, AUTHORITY)
        for key, child in value.items():
            if key != "acm":
                yield from _walk(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _walk(child, f"{path}[{i}]")
