"""One fake per port (core/ports.py), with test knobs instead of mocks (STYLE.md #4).

Shared by the controller's tests and the simulator. Each fake records its calls, takes a
one-shot ``next_error`` (raised by the next mutating call, then cleared) and keeps its
state in plain dicts a test can read or set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from forescale.core.clock import Clock
from forescale.core.errors import InsufficientCapacity
from forescale.core.model import PolicySpec, PoolObservation, PoolSpec
from forescale.core.ports import PoolReplicas, ReplicaCounts, Signals


class FakeMetricsSource:
    """Returns ``signals[model]`` (or all-missing, flagged stale) for every read."""

    def __init__(self) -> None:
        self.signals: dict[str, Signals] = {}
        self.calls: list[tuple[str, float]] = []
        self.next_error: Exception | None = None

    def set(self, model: str, rps: float | None, queue_depth: int | None = 0, at: float = 0.0) -> None:
        """Same rate on both windows; ``None`` makes every signal missing."""
        if rps is None:
            self.signals[model] = Signals(at=at, stale=("rps_short", "rps_stable", "queue_depth"))
        else:
            self.signals[model] = Signals(at=at, rps_short=rps, rps_stable=rps, queue_depth=queue_depth)

    async def read(self, spec: PolicySpec, now: float) -> Signals:
        self.calls.append((spec.model, now))
        if self.next_error is not None:
            err, self.next_error = self.next_error, None
            raise err
        found = self.signals.get(spec.model)
        if found is None:
            return Signals(at=now, stale=("rps_short", "rps_stable", "queue_depth"))
        return Signals(found.at or now, found.rps_short, found.rps_stable, found.queue_depth, found.stale)

    async def close(self) -> None:
        return None


@dataclass(eq=False)  # identity: two nodes launched together are still two
class FakeNode:
    launched_at: float
    ready_at: float
    notice_at: float | None = None  # interruption notice received


@dataclass
class _PoolState:
    nodes: list[FakeNode] = field(default_factory=list)
    insufficient_at: float | None = None
    interruptions: int = 0
    reported_ready: int = 0  # nodes whose lead time was already reported


class FakeNodePoolProvider:
    """Nodes become ready ``lead_time_s`` (per pool, default the spec's) after launch.

    Knobs: ``unavailable`` pools raise ``InsufficientCapacity`` on growth; ``never_ready``
    pools launch nodes that never become ready; ``interrupt()`` delivers a notice;
    ``next_error`` fails the next ``set_nodes``.
    """

    def __init__(self, clock: Clock, lead_time_s: dict[str, float] | None = None) -> None:
        self.clock = clock
        self.lead_time_s = dict(lead_time_s or {})
        self.unavailable: set[str] = set()
        self.never_ready: set[str] = set()
        self.state: dict[tuple[str, str], _PoolState] = {}
        self.calls: list[tuple[str, str, int]] = []
        self.next_error: Exception | None = None

    def _pool(self, model: str, pool: str) -> _PoolState:
        return self.state.setdefault((model, pool), _PoolState())

    def interrupt(self, model: str, pool: str, count: int = 1) -> None:
        live = [n for n in self._pool(model, pool).nodes if n.notice_at is None]
        for node in live[:count]:
            node.notice_at = self.clock.now()
            self._pool(model, pool).interruptions += 1

    async def observe(self, model: str, pools: Sequence[PoolSpec], now: float) -> tuple[PoolObservation, ...]:
        return tuple(self._observe_one(model, p, now) for p in pools)

    def _observe_one(self, model: str, spec: PoolSpec, now: float) -> PoolObservation:
        st = self._pool(model, spec.name)
        healthy = [n for n in st.nodes if n.notice_at is None]
        ready = [n for n in healthy if n.ready_at <= now]
        lead = tuple(n.ready_at - n.launched_at for n in ready[st.reported_ready :])
        st.reported_ready = len(ready)
        obs = PoolObservation(
            name=spec.name,
            ready_nodes=len(ready),
            starting_nodes=len(healthy) - len(ready),
            draining_nodes=len(st.nodes) - len(healthy),
            insufficient_capacity_at=st.insufficient_at,
            interruptions=st.interruptions,
            lead_times_s=lead,
        )
        st.interruptions = 0
        return obs

    async def set_nodes(self, model: str, pool: PoolSpec, nodes: int, replicas: int) -> None:
        self.calls.append((model, pool.name, nodes))
        if self.next_error is not None:
            err, self.next_error = self.next_error, None
            raise err
        st = self._pool(model, pool.name)
        healthy = [n for n in st.nodes if n.notice_at is None]
        now = self.clock.now()
        if nodes > len(healthy) and pool.name in self.unavailable:
            st.insufficient_at = now
            raise InsufficientCapacity(pool.name, "no capacity (fake)")
        lead = self.lead_time_s.get(pool.name, pool.lead_time_s)
        ready_at = float("inf") if pool.name in self.never_ready else now + lead
        for _ in range(nodes - len(healthy)):
            st.nodes.append(FakeNode(launched_at=now, ready_at=ready_at))
        if nodes < len(healthy):  # scale down: newest (least likely ready) first
            keep = sorted(healthy, key=lambda n: n.launched_at)[: max(0, nodes)]
            st.nodes = [n for n in st.nodes if n.notice_at is not None or n in keep]

    def drop_drained(self, model: str, pool: str, notice_s: float) -> int:
        """Remove nodes whose notice is older than ``notice_s``; returns how many went."""
        st = self._pool(model, pool)
        now = self.clock.now()
        gone = [n for n in st.nodes if n.notice_at is not None and now - n.notice_at >= notice_s]
        st.nodes = [n for n in st.nodes if n not in gone]
        return len(gone)

    async def close(self) -> None:
        return None


class FakeReplicaSetter:
    """Replicas per (model, pool); ready follows desired unless ``ready_override`` says otherwise."""

    def __init__(self) -> None:
        self.desired: dict[tuple[str, str], int] = {}
        self.ready_override: dict[tuple[str, str], int] = {}
        self.calls: list[tuple[str, str, int]] = []
        self.next_error: Exception | None = None

    async def replicas(self, model: str, pools: Sequence[PoolSpec]) -> PoolReplicas:
        counts = {}
        for p in pools:
            want = self.desired.get((model, p.name), 0)
            ready = min(want, self.ready_override.get((model, p.name), want))
            counts[p.name] = ReplicaCounts(desired=want, ready=ready, starting=want - ready)
        return PoolReplicas(counts)

    async def set_replicas(self, model: str, pool: PoolSpec, replicas: int) -> None:
        self.calls.append((model, pool.name, replicas))
        if self.next_error is not None:
            err, self.next_error = self.next_error, None
            raise err
        self.desired[(model, pool.name)] = replicas

    async def close(self) -> None:
        return None
