"""A raw xDS client: gRPC ADS with the `envoy.service.discovery.v3` stubs, and sovereign's REST.

Timed paths keep responses as bytes (what arrives on the wire), so the numbers
are the server's work plus transport, not this client's parsing; `verify_*`
parse once, outside the timing, to prove the response was complete.
"""

from __future__ import annotations

import http.client
import json
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from envoy.service.discovery.v3.discovery_pb2 import (
    DiscoveryRequest,
    DiscoveryResponse,
)

CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
SOTW = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
DELTA = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"
MAX_MESSAGE = 512 * 1024 * 1024
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)]


@dataclass(frozen=True)
class Fetch:
    """One complete CDS+EDS exchange: seconds to the full EDS body, and the raw bodies."""

    seconds: float
    cds: bytes
    eds: bytes


def _node(node_id: str) -> dict[str, object]:
    return {"id": node_id, "cluster": "bench"}


class AdsClient:
    """SotW ADS over one channel; each fetch opens a fresh stream, like a new Envoy."""

    def __init__(self, target: str) -> None:
        self.channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        self._sotw = self.channel.stream_stream(SOTW, request_serializer=DiscoveryRequest.SerializeToString,
                                                response_deserializer=None)

    def close(self) -> None:
        self.channel.close()

    def fetch(self, node_id: str, eds_names: list[str]) -> Fetch:
        requests: queue.Queue[DiscoveryRequest | None] = queue.Queue()

        def feed() -> Iterator[DiscoveryRequest]:
            while (item := requests.get()) is not None:
                yield item

        started = time.perf_counter()
        requests.put(DiscoveryRequest(node=_node(node_id), type_url=CDS))
        responses = self._sotw(feed())
        try:
            cds = next(responses)
            requests.put(DiscoveryRequest(node=_node(node_id), type_url=EDS, resource_names=eds_names))
            eds = next(responses)
            elapsed = time.perf_counter() - started
        finally:
            requests.put(None)
            responses.cancel()
        return Fetch(elapsed, cds, eds)


@contextmanager
def held_stream(target: str, node_id: str) -> Iterator[None]:
    """Keep one stream of `node_id` open (another Envoy of the same node), so its snapshot stays cached."""
    client = AdsClient(target)
    stop = threading.Event()

    def feed() -> Iterator[DiscoveryRequest]:
        yield DiscoveryRequest(node=_node(node_id), type_url=CDS)
        stop.wait()

    responses = client._sotw(feed())
    try:
        next(responses)
        yield
    finally:
        stop.set()
        responses.cancel()
        client.close()


class SovereignClient:
    """sovereign's REST discovery (`POST /v3/discovery:<type>`) over one keep-alive connection."""

    def __init__(self, host: str, port: int) -> None:
        self._conn = http.client.HTTPConnection(host, port, timeout=300)

    def close(self) -> None:
        self._conn.close()

    def _post(self, kind: str, body: dict[str, object]) -> bytes:
        self._conn.request("POST", f"/v3/discovery:{kind}", body=json.dumps(body),
                           headers={"Content-Type": "application/json"})
        response = self._conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"sovereign answered {response.status}: {data[:200]!r}")
        return data

    def fetch(self, node_id: str, eds_names: list[str]) -> Fetch:
        node = {**_node(node_id), "user_agent_name": "envoy", "user_agent_build_version": {
            "version": {"major_number": 1, "minor_number": 40, "patch": 0}}}
        started = time.perf_counter()
        cds = self._post("clusters", {"node": node, "version_info": "", "resource_names": []})
        # Unnamed EDS: sovereign then returns every assignment (the same N) without filtering, and avoids
        # echoing all N names back in its X-Sovereign-Requested-Resources header (over 64 KB at N=10,000).
        eds = self._post("endpoints", {"node": node, "version_info": "", "resource_names": []})
        return Fetch(time.perf_counter() - started, cds, eds)


def verify_ads(fetch: Fetch) -> tuple[int, int, int]:
    """(clusters, assignments, endpoints) in an ADS fetch, decoding every resource."""
    cds, eds = DiscoveryResponse.FromString(fetch.cds), DiscoveryResponse.FromString(fetch.eds)
    clusters = [Cluster.FromString(r.value) for r in cds.resources]
    assignments = [ClusterLoadAssignment.FromString(r.value) for r in eds.resources]
    return len(clusters), len(assignments), sum(len(e.lb_endpoints) for a in assignments for e in a.endpoints)


def verify_sovereign(fetch: Fetch) -> tuple[int, int, int]:
    cds, eds = json.loads(fetch.cds), json.loads(fetch.eds)
    assignments = eds["resources"]
    endpoints = sum(len(e.get("lb_endpoints", [])) for a in assignments for e in a.get("endpoints", []))
    return len(cds["resources"]), len(assignments), endpoints


def throughput(make_client: type | object, args: tuple, node_id: str, eds_names: list[str], workers: int,
               seconds: float) -> tuple[float, int]:
    """Complete CDS+EDS fetches per second by `workers` concurrent clients over `seconds`."""
    done = [0] * workers
    errors: list[BaseException] = []
    deadline = time.perf_counter() + seconds

    def work(slot: int) -> None:
        client = make_client(*args)  # type: ignore[operator]
        try:
            while time.perf_counter() < deadline:
                client.fetch(node_id, eds_names)
                done[slot] += 1
        except BaseException as exc:  # recorded: a failing server must not look fast
            errors.append(exc)
        finally:
            client.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed: {errors[0]!r}")
    elapsed = time.perf_counter() - started
    return sum(done) / elapsed, sum(done)
