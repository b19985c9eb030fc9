"""The demo's authorization check: blue's Envoy serves its one allowed caller and refuses another.

Both callers hold a certificate of the demo CA, so mTLS accepts either: only the authorization
policy (`mesh.authorize`) tells them apart.  The requests go straight to blue's sidecar ingress, as a
caller's Envoy would send them.
"""

from __future__ import annotations

import http.client
import socket
import ssl

from meshplane.demo.report import AuthorizationCheck
from meshplane.demo.stack import Stack

TARGET = "blue-1"


def check(stack: Stack) -> AuthorizationCheck:
    """One request to blue as `front` (allowed) and one as the gateway (which may call front only)."""
    plan = stack.plan
    return AuthorizationCheck(target=TARGET, allowed_caller="front", allowed_status=_status(stack, "front"),
                              refused_caller=plan.gateway, refused_status=_status(stack, plan.gateway))


def _status(stack: Stack, caller: str) -> int:
    return status_as(stack, caller, TARGET)


def status_as(stack: Stack, caller: str, target: str) -> int:
    """The HTTP status `target`'s sidecar answers `caller` with, who calls it with its own certificate as a
    caller's Envoy would; 0 when the connection fails."""
    plan = stack.plan
    running = stack.running[target]
    host, port = running.instance.ingress.rsplit(":", 1)
    leaf = plan.certs[caller]
    context = ssl.create_default_context(cafile=plan.ca)
    context.load_cert_chain(str(leaf.chain), str(leaf.key))
    request = f"GET / HTTP/1.1\r\nHost: {plan.service('color')}\r\nConnection: close\r\n\r\n".encode()
    try:
        with socket.create_connection((host, int(port)), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname=plan.service(running.instance.node)) as tls:
            tls.sendall(request)
            response = http.client.HTTPResponse(tls)
            response.begin()
            return response.status
    except (OSError, http.client.HTTPException):
        return 0
