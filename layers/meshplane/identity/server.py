"""Node identity on the ADS server: the parts `meshplane ads` wires together, buildable by tests.

`NodeIdentity` holds the server's account, the node CA, its own TLS keys, the IAM
decisions and the credential exchange, and serves the exchange's HTTPS port next to
the gRPC one. The ADS port needs a client certificate, and gRPC's server does not even
ask for one unless it requires one, so the exchange cannot share that port.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from meshplane.identity.account import MeshAccount
from meshplane.identity.authorization import NodeAuthorizer
from meshplane.identity.ca import NodeCA
from meshplane.identity.defaults import DECISION_TTL_S, MAX_CONNECTIONS
from meshplane.identity.endpoints import StsEndpoints
from meshplane.identity.errors import NotFound
from meshplane.identity.exchange import NODE_CERT_LIFETIME, CredentialExchange
from meshplane.identity.https import TIMEOUT_S, HttpsEndpoint
from meshplane.identity.nonces import NonceCache
from meshplane.identity.principals import Principals
from meshplane.identity.proof import CA_PATH, CREDENTIALS_PATH
from meshplane.identity.serverkeys import ContextCache, IssuedServerKeys, ServerKeys
from meshplane.identity.verify import Post, ProofVerifier, https_post

log = logging.getLogger(__name__)


@dataclass
class NodeIdentity:
    account: MeshAccount
    ca: NodeCA
    keys: ServerKeys
    authorizer: NodeAuthorizer
    exchange: CredentialExchange
    require_node_identity: bool = True
    identity_port: int | None = None  # None: the ADS port + 1 (0 stays 0)
    max_connections: int = MAX_CONNECTIONS
    connection_timeout_s: float = TIMEOUT_S
    extra_client_ca: bytes = b""  # a further CA whose certificates may open streams (`--tls-client-ca`)
    port: int = field(default=0, init=False)  # the exchange's bound port, once serving
    _endpoint: HttpsEndpoint | None = field(default=None, init=False, repr=False)

    @property
    def client_roots(self) -> bytes:
        return self.ca.certificate_pem + self.extra_client_ca

    def respond(self, method: str, path: str, body: bytes) -> Any:
        if (method, path) == ("POST", CREDENTIALS_PATH):
            return self.exchange.handle(body)
        if (method, path) == ("GET", CA_PATH):
            return {"caBundle": self.ca.certificate_pem.decode()}
        raise NotFound(f"no {method} {path}: POST {CREDENTIALS_PATH} or GET {CA_PATH}")

    def serve(self, host: str, ads_port: int) -> int:
        """Start the exchange endpoint; returns its port."""
        port = self.identity_port if self.identity_port is not None else (ads_port + 1 if ads_port else 0)
        self._endpoint = HttpsEndpoint(self.respond, ContextCache(self.keys), max_connections=self.max_connections,
                                       timeout_s=self.connection_timeout_s)  # fmt: skip
        self.port = self._endpoint.start(host, port)
        log.info("node identity exchange listening on %s:%d", host, self.port)
        return self.port

    @property
    def refused_connections(self) -> int:
        return self._endpoint.refused if self._endpoint else 0

    def stop(self) -> None:
        if self._endpoint is not None:
            self._endpoint.stop()
            self._endpoint = None


def build_node_identity(*, account: MeshAccount, ca: NodeCA, iam: Any, server_name: str, server_id: str | None = None,
                        keys: ServerKeys | None = None, sts_endpoints: Iterable[str] = (),
                        node_cert_lifetime: dt.timedelta = NODE_CERT_LIFETIME,
                        decision_ttl: float = DECISION_TTL_S, post: Post = https_post,
                        **options: Any) -> NodeIdentity:  # fmt: skip
    """Everything from its parts; `options` go to NodeIdentity (ports, limits, requirement)."""
    authorizer = NodeAuthorizer(iam, ttl=decision_ttl)
    verifier = ProofVerifier(server_id or server_name, account, StsEndpoints(account.partition, sts_endpoints),
                             NonceCache(), post)  # fmt: skip
    exchange = CredentialExchange(account, ca, verifier, Principals(iam), authorizer, node_cert_lifetime)
    keys = keys or IssuedServerKeys(ca, server_name)
    return NodeIdentity(account, ca, keys, authorizer, exchange, **options)
