"""Hot changes in shards: a plan with many proxies is rebuilt by several invocations at once.

Why: one invocation rebuilds a proxy in a few ms of CPU plus a pointer write, two S3 PUTs,
the endpoint reads of its upstream nodes, an index entry and an event, so a route used by
10,000 callers would take minutes in one invocation.  A plan with more than `threshold`
proxies is cut into shards of at most `size` proxies; each shard is one SQS message, and
the `recompute_shard` function runs up to the queue's concurrency of them at once.

Within a shard the store calls are few and overlap: every pointer comes from one
BatchGetItem of up to 100 keys, the proxies are rebuilt and published on `IO_THREADS`
threads (so their S3 PUTs, conditional pointer writes and endpoint reads are in flight
together), and events and index entries go out in batches (`shard_io`).  A shard reads
only the part of the mesh its proxies were built from, as the index names it, and what they
read beyond it now (`Recomputer.load_within`): at 10,000 nodes a few hundred items by key
instead of every item of the mesh.  The proxies whose rebuild read beyond the part
(`OutsideDependencies`) are rebuilt from the part read again with what they missed, then
from the whole mesh; so is a proxy the index does not know.

Ordering: a shard reads its proxies' pointers *before* it loads the mesh state, then
publishes each one conditionally on the pointer it read (`PointerStore.advance`).  Any
publish that landed before that read was built from a state loaded earlier still, so the
shard's state is at least as new; any publish that lands after it moves the pointer, and
the shard's write fails, reads again and rebuilds from a fresh state.  So a shard that
loaded its state before a newer change, and runs late, can never overwrite the newer
publish; a shard of an older change that starts late simply builds the newest state.

A full pass (the reconcile's sweep rebuilds every proxy of a mesh) is cut differently: into
shards of `FULL_PASS_SIZE` proxies, each of which reads the whole mesh in one Query.  A
part is read item by item, each item billed whole (at least a read unit), while a Query is
billed by the bytes it returns; a hundred proxies' part of a 10,000-node mesh is about
1,300 units, and the whole mesh about 4,300, so a hundred 100-proxy shards read 130,000
units where ten 1,000-proxy shards reading the whole mesh read 43,000.  Nothing waits on a
full pass, so its shards can take the longer time a thousand proxies take.

Retries: a shard that raises is reported as a batch item failure; SQS redelivers only
that message after its visibility timeout and moves it to the dead-letter queue after
`maxReceiveCount`.  Running a shard twice changes nothing: versions are content hashes,
an unchanged snapshot is not published again, and the pointer condition keeps the order.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from meshplane.gc_pause import collector_paused
from meshplane.model.ids import ProxyId
from meshplane.pipeline.recompute import OutsideDependencies
from meshplane.pipeline.shard_io import OnceEach
from meshplane.pipeline.wiring import MAX_POOL_CONNECTIONS
from meshplane.store.errors import NotFound
from meshplane.store.pointers import PointerConflict

if TYPE_CHECKING:
    from meshplane.model.state import MeshState
    from meshplane.pipeline.ports import Secrets, StateLoader
    from meshplane.pipeline.publish import Result
    from meshplane.pipeline.recompute import Plan, Recomputer
    from meshplane.pipeline.shard_io import Flushable
    from meshplane.pipeline.telemetry import Telemetry
    from meshplane.publication.pointer import Pointer
    from meshplane.store.pointers import PointerStore

MAX_ROUNDS = 3  # as `recompute.MAX_ROUNDS`: a shard raced three times in a row is retried by SQS
SQS_BATCH = 10  # entries per SendMessageBatch
SEND_THREADS = 10  # SendMessageBatch calls in flight at once: 10,000 proxies' ten batches wait once, not ten times
# A shard names the nodes whose assignments it renders (`ShardMessage.rendered`) while their names take no more than
# this: a change that wrote many nodes (a bulk import) renders every assignment instead, so ten messages of a batch
# stay far inside SQS's size limit whatever the change.
RENDERED_BYTES = 4096
IO_THREADS = MAX_POOL_CONNECTIONS  # proxies published at once, each thread with a connection of its own
FULL_PASS_SIZE = 1000  # proxies per shard of a full pass, at least (see the module docstring)
# SQS takes 256 KiB a message and a batch (more where a queue allows it): a shard's paths stay within this, and a
# batch's bodies together too, whatever the names' lengths.
MESSAGE_BYTES = 200_000


class ShardMessage(BaseModel):
    """One shard as its SQS message body; `id` is what Powertools Idempotency keys on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    mesh: str = Field(min_length=1)
    index: int = Field(ge=0)
    count: int = Field(ge=1)
    full: tuple[str, ...] = ()  # node paths rebuilt in full
    endpoints_only: tuple[str, ...] = ()  # node paths whose EDS alone is rebuilt
    # The virtual nodes whose assignments a full rebuild renders, the others' carried over (`Plan.rendered`);
    # absent: all rendered.
    rendered: tuple[str, ...] | None = None
    whole_mesh: bool = False  # a full pass's shard: the whole mesh read in one Query instead of the part by key

    def proxies(self) -> tuple[frozenset[ProxyId], frozenset[ProxyId]]:
        """(full, endpoints only) as proxy ids; ValueError on a path that names none."""
        return (frozenset(ProxyId.parse(p) for p in self.full),
                frozenset(ProxyId.parse(p) for p in self.endpoints_only))  # fmt: skip


@dataclass(frozen=True)
class ShardPolicy:
    """When a plan is hot, and how it is cut."""

    threshold: int  # more proxies to rebuild than this: shards; 0 or less: never
    size: int  # proxies per shard, at most

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"a shard holds at least one proxy, not {self.size}")

    def hot(self, targets: int) -> bool:
        return 0 < self.threshold < targets

    @property
    def full_pass_size(self) -> int:
        return max(self.size, FULL_PASS_SIZE)

    def split(self, full: Iterable[ProxyId], endpoints_only: Iterable[ProxyId], size: int | None = None
              ) -> list[tuple[frozenset[ProxyId], frozenset[ProxyId]]]:
        """The targets in sorted order, cut into the fewest shards of at most `size` (default: the policy's), sizes
        within one of each other.

        Every target is in exactly one shard, and keeps its kind of rebuild (full or endpoints only).
        """
        size = size or self.size
        rebuild = frozenset(full)
        eds = frozenset(endpoints_only) - rebuild
        targets = sorted(rebuild | eds, key=_order)
        if not targets:
            return []
        path_bytes = sum(len(p.path.encode()) + 3 for p in targets)  # as each is written in a message body
        count = max(-(-len(targets) // size), -(-path_bytes // MESSAGE_BYTES))
        base, extra = divmod(len(targets), count)
        shards, start = [], 0
        for index in range(count):
            chunk = targets[start:start + base + (index < extra)]
            start += len(chunk)
            shards.append((frozenset(p for p in chunk if p in rebuild), frozenset(p for p in chunk if p in eds)))
        return shards


def _batches(shards: Sequence[ShardMessage]) -> list[list[dict[str, str]]]:
    """The shards as SendMessageBatch entries, in calls of at most `SQS_BATCH` entries and `MESSAGE_BYTES` of
    bodies."""
    batches: list[list[dict[str, str]]] = []
    held = 0
    for shard in shards:
        body = shard.model_dump_json()
        size = len(body.encode())
        if not batches or len(batches[-1]) == SQS_BATCH or held + size > MESSAGE_BYTES:
            batches.append([])
            held = 0
        batches[-1].append({"Id": str(shard.index), "MessageBody": body})
        held += size
    return batches


def _order(proxy: ProxyId) -> tuple[str, str, str]:
    """`ProxyId`'s own order as a tuple of strings: 10,000 proxies sort in milliseconds, not a third of a second."""
    return proxy.mesh, proxy.kind.value, proxy.name


def messages(mesh: str, plan: Plan, policy: ShardPolicy, change: str | None = None, *, full_pass: bool = False
             ) -> list[ShardMessage]:
    """The plan's shards as messages, or none when the plan is not hot; a `full_pass` (every proxy of the mesh) in
    shards of the policy's `full_pass_size` that read the whole mesh."""
    if not policy.hot(len(plan.full | plan.endpoints_only)):
        return []
    change = change or uuid.uuid4().hex
    parts = policy.split(plan.full, plan.endpoints_only, policy.full_pass_size if full_pass else policy.size)
    rendered = tuple(sorted(plan.rendered)) if plan.rendered is not None else None
    if rendered is not None and sum(len(name.encode()) + 3 for name in rendered) > RENDERED_BYTES:
        rendered = None  # every assignment rendered, as before any were carried over
    return [ShardMessage(id=f"{change}-{i}", mesh=mesh, index=i, count=len(parts),
                         full=tuple(sorted(p.path for p in full)),
                         endpoints_only=tuple(sorted(p.path for p in eds)), rendered=rendered, whole_mesh=full_pass)
            for i, (full, eds) in enumerate(parts)]


class QueueFanout:
    """`recompute.Fanout` over an SQS queue: the hot plans' shards are sent as messages."""

    def __init__(self, sqs: Any, queue_url: str, policy: ShardPolicy, telemetry: Telemetry) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._policy = policy
        self._t = telemetry

    def dispatch(self, mesh: str, plan: Plan, *, full_pass: bool = False) -> int:
        """Send the shards, their batches at once; raises if SQS refused any (the stream retries; a shard sent
        twice is harmless)."""
        shards = messages(mesh, plan, self._policy, full_pass=full_pass)
        batches = _batches(shards)
        if len(batches) > 1:
            with ThreadPoolExecutor(min(len(batches), SEND_THREADS)) as pool:
                refused = [failed for sent in pool.map(self._send, batches) for failed in sent]
        else:
            refused = [failed for batch in batches for failed in self._send(batch)]
        if refused:
            raise RuntimeError(f"the shard queue refused {len(refused)} shards: {refused}")
        if shards:
            self._t.count("ShardsSent", len(shards))
            self._t.logger.info("hot change sent as shards", extra={
                "mesh": mesh, "shards": len(shards), "proxies": len(plan.full | plan.endpoints_only)})
        return len(shards)

    def _send(self, entries: list[dict[str, str]]) -> list[dict[str, Any]]:
        """One SendMessageBatch; the entries SQS refused."""
        with self._t.traced("sqs.send_shards"):
            response = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
        failed: list[dict[str, Any]] = response.get("Failed", [])
        return failed


class ShardWorker:
    """Rebuilds and publishes one shard's proxies, pointers read before the state (see the module docstring)."""

    def __init__(self, *, recomputer: Recomputer, loader: StateLoader, pointers: PointerStore,
                 telemetry: Telemetry, secrets: Callable[[], Secrets] | None = None,
                 batches: Sequence[Flushable] = (), threads: int = IO_THREADS) -> None:
        """`batches` hold writes back (`shard_io`) and are flushed at the end of every round; `threads` rebuild
        and publish proxies at once, so their store calls overlap."""
        self._recomputer = recomputer
        self._loader = loader
        self._pointers = pointers
        self._t = telemetry
        self._secrets = secrets
        self._batches = tuple(batches)
        self._threads = max(1, threads)

    def handle(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """One SQS message body; raises on a malformed one (SQS redelivers it, then dead-letters it)."""
        shard = ShardMessage.model_validate(body)
        results = self.run(shard)
        published = sum(1 for r in results if r.status.value == "published")
        self._t.count("ShardProxiesPublished", published)
        return {"mesh": shard.mesh, "shard": f"{shard.index + 1}/{shard.count}", "proxies": len(results),
                "published": published, "rejected": [r.proxy.path for r in results if r.status.value == "rejected"]}

    def run(self, shard: ShardMessage) -> list[Result]:
        """Rebuild the shard's proxies; those another publisher raced are rebuilt from fresh reads."""
        full, eds = shard.proxies()
        pending = full | eds
        rendered = frozenset(shard.rendered) if shard.rendered is not None else None
        secrets = self._secrets() if self._secrets is not None else None
        results: list[Result] = []
        # paths a rebuild missed in the part read; None: the whole mesh
        more: frozenset[str] | None = None if shard.whole_mesh else frozenset()
        with (self._t.timed("ShardLatency", "recompute_shard"), collector_paused(),  # the shard, not each proxy
              ThreadPoolExecutor(self._threads) as pool):
            for _ in range(MAX_ROUNDS):
                previous = self._read_pointers(pending)  # before the state: the ordering guarantee rests on it
                try:
                    state, present, within = self._load(shard.mesh, pending, more)
                except NotFound:  # the mesh is gone: the next recompute of the stream forgets its proxies
                    return results
                try:
                    done, raced, outside = self._rebuild(pool, state, sorted(pending & present), previous, full,
                                                         secrets, within, rendered)
                finally:
                    self._flush()
                results += done
                if not raced and not outside:
                    return results
                pending = frozenset(raced) | outside.keys()
                if outside:  # the part again with what was missed, once; then the whole mesh
                    more = frozenset().union(*outside.values()) if more == frozenset() else None
        raise PointerConflict(", ".join(p.path for p in sorted(pending)))

    def _rebuild(self, pool: ThreadPoolExecutor, state: MeshState, proxies: list[ProxyId],
                 previous: Mapping[ProxyId, Pointer | None], full: frozenset[ProxyId], secrets: Secrets | None,
                 within: frozenset[str] | None, rendered: frozenset[str] | None
                 ) -> tuple[list[Result], set[ProxyId], dict[ProxyId, frozenset[str]]]:
        """Each proxy built and published on the pool; the results in proxy order, the proxies raced, and those
        that read beyond `within` (the part of the mesh `state` holds; None: all of it) with what they missed."""
        def one(proxy: ProxyId) -> Result | PointerConflict | OutsideDependencies:
            try:
                return self._recomputer.rebuild(state, proxy, previous[proxy], eds_only=proxy not in full,
                                                secrets=secrets, within=within, rendered=rendered)
            except (PointerConflict, OutsideDependencies) as missed:
                return missed

        outcomes = list(pool.map(one, proxies))
        paired = list(zip(proxies, outcomes, strict=True))
        return ([r for r in outcomes if not isinstance(r, Exception)],
                {proxy for proxy, r in paired if isinstance(r, PointerConflict)},
                {proxy: r.missing for proxy, r in paired if isinstance(r, OutsideDependencies)})

    def _flush(self) -> None:
        for batch in self._batches:
            batch.flush()

    def _read_pointers(self, proxies: Iterable[ProxyId]) -> dict[ProxyId, Pointer | None]:
        """Every pointer in BatchGetItem calls of 100 (strongly consistent, as `PointerStore.get`)."""
        ordered = sorted(proxies)
        with self._t.traced("dynamodb.read_pointers"):
            found = self._pointers.get_many([proxy.path for proxy in ordered])
        return {proxy: found[proxy.path] for proxy in ordered}

    def _load(self, mesh: str, proxies: Collection[ProxyId], more: frozenset[str] | None
              ) -> tuple[MeshState, frozenset[ProxyId], frozenset[str] | None]:
        """The part of the mesh the proxies read (`Recomputer.load_within`, with the paths `more`), or, where it
        cannot tell that part or `more` is None, the whole mesh; with its endpoints, the proxies the mesh still
        defines (one deleted since the plan is left to the index's retirement), and the dependency paths the
        part holds (None: the whole mesh).

        Endpoints are read per node on first lookup (`store.endpoints.NodeEndpoints`), by the publishing
        threads as their translations ask, so the reads overlap; `OnceEach` makes the threads that ask for
        one node together share its one read.  Nothing is resolved here to find those nodes beforehand: that
        would be a third resolution of every proxy, beside its translation's and its dependencies'.
        """
        with self._t.traced("dynamodb.load_state"):
            part = None if more is None else self._recomputer.load_within(mesh, proxies, more)
            if part is None:  # the index entries `put` compares with are this round's, as `load_within` reads them
                self._recomputer.read_entries(mesh, proxies)
            state, within = part if part is not None else (self._loader.load_mesh_state(mesh), None)
            state = self._recomputer.with_endpoints(state, state.virtual_nodes)
            state = dataclasses.replace(state, endpoints=OnceEach(state.endpoints))
            present = frozenset(p for p in proxies if state.defines(p))  # not `graph.proxies`: it sorts them all
            return state, present, within
