"""One fake per port (core/ports.py), with test knobs instead of mocks (STYLE.md #4).

Shared by the controller's tests and the simulator. Each fake records its calls, takes a
one-shot ``next_error`` (raised by the next mutating call, then cleared) and keeps its
state in plain dicts a test can read or set. The node fake is the one pool state machine
(``sim/nodepool.py``) with a fixed lead time per pool and no spot notices of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from forescale.core.clock import Clock
from forescale.core.model import PolicySpec, PoolObservation, PoolSpec
from forescale.core.ports import PoolReplicas, ReplicaCounts, Signals
from forescale.sim.nodepool import NodePools, Slot


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


class FakeNodePoolProvider:
    """Nodes become ready ``lead_time_s`` (per pool, default the spec's) after launch.

    Knobs: ``unavailable`` pools raise ``InsufficientCapacity`` on growth; ``never_ready``
    pools launch nodes that never become ready; ``interrupt()`` delivers a notice (the
    node stays, draining, until ``drop_drained``); ``next_error`` fails the next ``set_nodes``.
    """

    def __init__(self, clock: Clock, lead_time_s: dict[str, float] | None = None) -> None:
        self.clock = clock
        self.lead_time_s = dict(lead_time_s or {})
        self.machine = NodePools(launch_delay=lambda p: self.lead_time_s.get(p.name, p.lead_time_s))
        self.unavailable = self.machine.unavailable
        self.never_ready = self.machine.never_ready
        self.calls: list[tuple[str, str, int]] = []
        self.next_error: Exception | None = None

    @property
    def state(self) -> dict[tuple[str, str], Slot]:
        """(model, pool) -> its nodes (``Slot.nodes``, ``Slot.healthy(now)``)."""
        return self.machine.slots

    def interrupt(self, model: str, pool: str, count: int = 1) -> None:
        self.machine.interrupt(model, pool, self.clock.now(), count)

    async def observe(self, model: str, pools: Sequence[PoolSpec], now: float) -> tuple[PoolObservation, ...]:
        return tuple(self.machine.observe(model, p, now) for p in pools)

    async def set_nodes(self, model: str, pool: PoolSpec, nodes: int, replicas: int) -> None:
        self.calls.append((model, pool.name, nodes))
        if self.next_error is not None:
            err, self.next_error = self.next_error, None
            raise err
        self.machine.set_nodes(model, pool, nodes, self.clock.now())

    def drop_drained(self, model: str, pool: str, notice_s: float) -> int:
        """Remove nodes whose notice is older than ``notice_s``; returns how many went."""
        return self.machine.drop_drained(model, pool, notice_s, self.clock.now())

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
