"""The local provider: real ``forescale worker`` processes on simulated node pools.

Implements both ``core.ports.NodePoolProvider`` and ``ReplicaSetter``. A pool's nodes are
simulated on the injected clock: a node is ready ``pool.lead_time_s`` after launch;
spot nodes may get an interruption notice (at random, ``spot_interruptions_per_hour``, or
through ``interrupt()``) and are removed ``interruption_notice_s`` later, when their
workers get SIGTERM (and drain). A node holds ``gpus_per_node`` replicas (one GPU each).
Replicas are real worker processes, started only on ready nodes that are not under
notice; ready = the worker's heartbeat in ``fs:workers:{model}`` says ``ready``.

A reserved pool launches at most its ``reservation_nodes`` and raises
ReservationExhausted for more. Fault knobs (settings or attributes): ``unavailable`` pools
raise InsufficientCapacity when asked to grow; ``never_ready`` pools launch nodes that
never become ready.

Lead time (``PoolObservation.lead_times_s``): ``lead_time="node"`` (the default) reports
launch -> node ready; ``lead_time="replica"`` reports launch -> the node's first worker
ready, which is what capacity really costs (the worker start comes on top of the launch)
and what the simulator reports (launch + model load). Nodes that never get a worker
report nothing in that mode, and a node that stood idle before it got a worker reports the
idle time too (the demo launches nodes for the replicas it wants, so it has none).
"""

from __future__ import annotations

import itertools
import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import redis.asyncio as aioredis

from forescale.controller.actuators.local_procs import ProcessTable
from forescale.controller.settings import LocalSettings
from forescale.core.clock import Clock, SystemClock
from forescale.core.errors import InsufficientCapacity, ReservationExhausted
from forescale.core.model import PoolObservation, PoolSpec
from forescale.core.ports import PoolReplicas, ReplicaCounts
from forescale.queue import heartbeat

log = logging.getLogger(__name__)
_ids = itertools.count(1)


@dataclass(eq=False)
class SimNode:
    launched_at: float
    ready_at: float
    id: int = field(default_factory=lambda: next(_ids))
    notice_at: float | None = None
    lead_reported: bool = False  # lead_time="replica": reported at its first ready worker


@dataclass
class _Slot:
    """One model in one pool: its nodes, the replicas wanted, what to report next."""

    nodes: list[SimNode] = field(default_factory=list)
    want: int = 0
    insufficient_at: float | None = None
    interruptions: int = 0
    lead_times: list[float] = field(default_factory=list)


def _csv(value: str) -> set[str]:
    return {v.strip() for v in value.split(",") if v.strip()}


class LocalProvider:
    def __init__(
        self,
        redis: aioredis.Redis,
        redis_url: str,
        settings: LocalSettings,
        clock: Clock,
        *,
        wall: Clock | None = None,
        rng: random.Random | None = None,
        lead_time: Literal["node", "replica"] = "node",
    ) -> None:
        self.redis = redis
        self.s = settings
        self.clock = clock
        self.wall = wall or SystemClock()  # worker processes heartbeat in wall time
        self.rng = rng or random.Random(0)
        self.procs = ProcessTable(settings.worker_command, redis_url, settings.drain_timeout_s)
        self.unavailable = _csv(settings.unavailable_pools)
        self.never_ready = _csv(settings.never_ready_pools)
        self.slots: dict[tuple[str, str], _Slot] = {}
        self.pools: dict[str, PoolSpec] = {}
        self._advanced_at: float | None = None
        self.lead_time = lead_time

    def _slot(self, model: str, pool: str) -> _Slot:
        return self.slots.setdefault((model, pool), _Slot())

    # ------------------------------------------------------------ simulation
    def interrupt(self, model: str, pool: str) -> SimNode | None:
        """Deliver an interruption notice to the oldest healthy node (a test knob)."""
        slot = self._slot(model, pool)
        node = next((n for n in slot.nodes if n.notice_at is None), None)
        if node is not None:
            node.notice_at = self.clock.now()
            slot.interruptions += 1
        return node

    def _advance(self) -> None:
        """Random spot notices since the last call; drop nodes whose notice has run out."""
        now, wall = self.clock.now(), self.wall.now()
        since = -math.inf if self._advanced_at is None else self._advanced_at
        dt = 0.0 if self._advanced_at is None else max(0.0, now - since)
        self._advanced_at = now
        p = 1 - math.exp(-self.s.spot_interruptions_per_hour * dt / 3600)
        for (_model, pool), slot in self.slots.items():
            self._track_lead_times(slot, now, since)
            spot = pool in self.pools and self.pools[pool].capacity_type == "spot"
            for node in slot.nodes:
                if spot and node.notice_at is None and p > 0 and self.rng.random() < p:
                    node.notice_at = now
                    slot.interruptions += 1
            gone = [
                n
                for n in slot.nodes
                if n.notice_at is not None and now - n.notice_at >= self.s.interruption_notice_s
            ]
            for node in gone:
                for w in self.procs.procs:
                    if w.node_id == node.id:
                        self.procs.terminate(w, wall)
            slot.nodes = [n for n in slot.nodes if n not in gone]
        self.procs.reap(wall)

    async def _reconcile(self, model: str, pool: PoolSpec) -> None:
        """Start or stop workers so that healthy ready nodes carry ``want`` of them."""
        slot, wall, now = self._slot(model, pool.name), self.wall.now(), self.clock.now()
        healthy = [n for n in slot.nodes if n.notice_at is None and n.ready_at <= now]
        healthy_ids = {n.id for n in healthy}
        running = [w for w in self.procs.of(model, pool.name) if w.term_at is None]
        on_healthy = [w for w in running if w.node_id in healthy_ids]
        for w in sorted(on_healthy, key=lambda w: -w.started_at)[: max(0, len(on_healthy) - slot.want)]:
            self.procs.terminate(w, wall)  # newest first
        used = {n.id: 0 for n in healthy}
        for w in on_healthy:
            used[w.node_id] += 1
        missing = slot.want - len(on_healthy)
        for node in healthy:
            while missing > 0 and used[node.id] < pool.gpus_per_node:
                await self.procs.spawn(model, pool.name, node.id, wall)
                used[node.id] += 1
                missing -= 1

    # ------------------------------------------------------ NodePoolProvider
    async def observe(self, model: str, pools: Sequence[PoolSpec], now: float) -> tuple[PoolObservation, ...]:
        self.pools.update({p.name: p for p in pools})
        self._advance()
        out = []
        for pool in pools:
            await self._reconcile(model, pool)
            slot = self._slot(model, pool.name)
            healthy = [n for n in slot.nodes if n.notice_at is None]
            ready = sum(1 for n in healthy if n.ready_at <= now)
            out.append(PoolObservation(
                name=pool.name, ready_nodes=ready, starting_nodes=len(healthy) - ready,
                draining_nodes=len(slot.nodes) - len(healthy), insufficient_capacity_at=slot.insufficient_at,
                interruptions=slot.interruptions, lead_times_s=tuple(slot.lead_times),
            ))  # fmt: skip
            slot.interruptions, slot.lead_times = 0, []
        return tuple(out)

    async def set_nodes(self, model: str, pool: PoolSpec, nodes: int, replicas: int) -> None:
        self.pools[pool.name] = pool
        slot, now = self._slot(model, pool.name), self.clock.now()
        healthy = [n for n in slot.nodes if n.notice_at is None]
        if nodes > len(healthy) and pool.name in self.unavailable:
            slot.insufficient_at = now
            raise InsufficientCapacity(pool.name, "simulated: no capacity")
        short = pool.capacity_type == "reserved" and nodes > pool.reservation_nodes
        nodes = min(nodes, pool.max_nodes, pool.reservation_nodes if short else nodes)
        ready_at = math.inf if pool.name in self.never_ready else now + pool.lead_time_s
        for _ in range(nodes - len(healthy)):
            slot.nodes.append(SimNode(launched_at=now, ready_at=ready_at))
        if nodes < len(healthy):  # remove the newest (least likely to be serving)
            drop = {n.id for n in sorted(healthy, key=lambda n: -n.launched_at)[: len(healthy) - nodes]}
            for w in self.procs.of(model, pool.name):
                if w.node_id in drop:
                    self.procs.terminate(w, self.wall.now())
            slot.nodes = [n for n in slot.nodes if n.id not in drop]
        await self._reconcile(model, pool)
        if short:  # what the reservation holds was launched; the rest is someone else's job
            raise ReservationExhausted(pool.name, f"reservation holds {pool.reservation_nodes} nodes")

    def _track_lead_times(self, slot: _Slot, now: float, since: float) -> None:
        if self.lead_time == "replica":
            return  # reported by replicas() when the node's first worker is ready
        for n in slot.nodes:
            if since < n.ready_at <= now:
                slot.lead_times.append(n.ready_at - n.launched_at)

    # --------------------------------------------------------- ReplicaSetter
    async def replicas(self, model: str, pools: Sequence[PoolSpec]) -> PoolReplicas:
        ready_pids = (await heartbeat.live(self.redis, model, self.wall.now())).ready_pids
        counts = {}
        for pool in pools:
            want = self._slot(model, pool.name).want
            serving = [w for w in self.procs.of(model, pool.name) if w.term_at is None]
            up = [w for w in serving if w.pid in ready_pids]
            ready = min(want, len(up))
            if self.lead_time == "replica":
                self._replica_lead_times(model, pool.name, {w.node_id for w in up})
            counts[pool.name] = ReplicaCounts(desired=want, ready=ready, starting=want - ready)
        return PoolReplicas(counts)

    def _replica_lead_times(self, model: str, pool: str, serving_nodes: set[int]) -> None:
        """Launch -> first ready worker, once per node (injected clock, like the launch)."""
        slot, now = self._slot(model, pool), self.clock.now()
        for n in slot.nodes:
            if n.id in serving_nodes and not n.lead_reported:
                n.lead_reported = True
                slot.lead_times.append(now - n.launched_at)

    async def set_replicas(self, model: str, pool: PoolSpec, replicas: int) -> None:
        self.pools[pool.name] = pool
        self._slot(model, pool.name).want = replicas
        await self._reconcile(model, pool)

    async def close(self) -> None:
        await self.procs.stop_all(self.wall.now())
