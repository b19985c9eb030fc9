"""Test harness: real Envoy processes, real upstream servers, a test CA and loopback addressing.

Used by the traffic, delivery, pipeline and demo tests.  Import from a test package
(a test folder with an `__init__.py`, so pytest puts `tests/` on `sys.path`):

    from support import Lab, MeshBuilder, listener, http_request

Modules, one job each:
- `ports`     free ports and unique private loopback addresses (127.77.x.y), flock-claimed
- `envoy`     start/stop a real Envoy from a Bootstrap proto or dict, readiness, admin API helpers
- `upstreams` HTTP / gRPC / TCP echo servers that answer with their name and count hits,
              and `TcpServer` to build other TCP servers on
- `pki`       a throwaway CA issuing leaf certificates with DNS/URI/IP SANs
- `clients`   HTTP(S), gRPC and TCP clients that talk through a sidecar like a meshed app
- `mesh`      MeshState builders and `Lab`, which runs sidecars for a mesh and tears everything down
- `fixtures`  pytest fixtures (`lab`, `envoy_runner`, `test_ca`); import them into a conftest

`ports`, `pki` and the process side of `envoy` are thin layers over `meshplane.localnet`,
which the demo shares.

A typical module (see tests/traffic/ for one per feature):

    @pytest.fixture(scope="module")
    def caller(lab: Lab) -> Sidecar:
        mesh = MeshBuilder("my-mesh")                       # unique mesh name per module
        mesh.node("front", backends=("back.local",))
        mesh.node("back", listener(8080))
        mesh.service("back.local", node="back")
        ip = lab.place(mesh, "back")                        # endpoint <ip>:15000
        lab.http_app("back", ip, 8080)                      # the app behind back's sidecar
        state = mesh.build()
        lab.sidecar(state, "back", ip)
        return lab.sidecar(state, "front", lab.address())

    def test_it(caller): assert http_request(caller.egress, "back.local:8080").upstream == "back"
"""

from meshplane.localnet.waiting import wait_until

from .clients import GrpcReply, Reply, grpc_call, http_request, repeat, tally, tcp_exchange, tls_context
from .envoy import Envoy, EnvoyError, EnvoyRunner, envoy_binary, validate
from .mesh import Lab, MeshBuilder, Sidecar, listener, sidecar_bootstrap, target, validate_sidecar
from .pki import Leaf, TestCA
from .ports import LoopbackPool, free_port, loopback_pool
from .upstreams import Behaviour, GrpcUpstream, HttpUpstream, TcpEchoUpstream, TcpServer, serving

__all__ = [
    "Behaviour",
    "Envoy",
    "EnvoyError",
    "EnvoyRunner",
    "GrpcReply",
    "GrpcUpstream",
    "HttpUpstream",
    "Lab",
    "Leaf",
    "LoopbackPool",
    "MeshBuilder",
    "Reply",
    "Sidecar",
    "TcpEchoUpstream",
    "TcpServer",
    "TestCA",
    "envoy_binary",
    "free_port",
    "grpc_call",
    "http_request",
    "listener",
    "loopback_pool",
    "repeat",
    "serving",
    "sidecar_bootstrap",
    "tally",
    "target",
    "tcp_exchange",
    "tls_context",
    "validate",
    "validate_sidecar",
    "wait_until",
]
