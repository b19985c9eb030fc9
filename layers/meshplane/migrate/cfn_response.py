"""The answer to a CloudFormation custom resource request: one JSON document PUT to its pre-signed URL.

CloudFormation waits for this document (up to an hour) and reads nothing else, so
it must always be sent, exactly once, and must fit CloudFormation's 4,096-byte limit:
a long reason is cut to fit.  The URL is an S3 pre-signed PUT, which is signed without
a content type, so none is sent.  Transient failures are retried with backoff;
a URL that never accepts raises, so the invocation fails visibly (Lambda's error
metric, and its own retry of the whole request, which the provider answers idempotently).
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

MAX_BYTES = 4096  # CloudFormation refuses a larger response
ATTEMPTS = 5
TIMEOUT_SECONDS = 10.0
log = logging.getLogger(__name__)


@dataclass
class Response:
    """What the provider decided: SUCCESS with a physical id and attributes, or FAILED with a reason."""

    status: Literal["SUCCESS", "FAILED"]
    physical_id: str
    data: dict[str, str] = field(default_factory=dict)
    reason: str = ""

    def document(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The response document for `request`, its reason cut so the whole stays within MAX_BYTES."""
        document = {
            "Status": self.status,
            "Reason": self.reason or ("OK" if self.status == "SUCCESS" else "failed"),
            "PhysicalResourceId": self.physical_id,
            "StackId": request.get("StackId", ""),
            "RequestId": request.get("RequestId", ""),
            "LogicalResourceId": request.get("LogicalResourceId", ""),
            "NoEcho": False,
            "Data": self.data,
        }
        size = len(json.dumps(document).encode())
        if size > MAX_BYTES:
            reason = document["Reason"].encode()
            keep = max(0, len(reason) - (size - MAX_BYTES) - 3)
            document["Reason"] = reason[:keep].decode(errors="ignore") + "..."
        return document


Sleep = Callable[[float], None]


def send(url: str, document: Mapping[str, Any], *, attempts: int = ATTEMPTS, sleep: Sleep = time.sleep) -> None:
    """PUT `document` to the pre-signed `url`; retries 5xx and connection errors, raises when it never lands."""
    if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        raise ResponseNotDelivered(f"the response URL must be http(s), got {url[:40]!r}")
    body = json.dumps(document).encode()
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=body, method="PUT",
                                         headers={"Content-Type": "", "Content-Length": str(len(body))})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
                answer.read()
            return
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or attempt == attempts:
                raise ResponseNotDelivered(f"the response URL answered {exc.code}: {exc.reason}") from exc
            problem = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            if attempt == attempts:
                raise ResponseNotDelivered(f"the response URL could not be reached: {exc}") from exc
            problem = str(exc)
        delay = min(2.0 ** (attempt - 1), 8.0)
        log.warning("response not delivered (%s); attempt %d of %d again in %.0fs", problem, attempt + 1,
                    attempts, delay)
        sleep(delay)


class ResponseNotDelivered(RuntimeError):
    """CloudFormation's response URL did not take the response."""
