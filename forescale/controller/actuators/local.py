"""The local provider: the one pool state machine (``sim/nodepool.py``) plus real
``forescale worker`` processes.

Implements both ``core.ports.NodePoolProvider`` and ``ReplicaSetter``. A pool's nodes are
the simulator's and the test fake's: ready ``pool.lead_time_s`` after launch on the
injected clock; spot nodes get interruption notices (Poisson, ``spot_interruptions_per_hour``,
or ``interrupt()``) and go ``interruption_notice_s`` later, when their workers get SIGTERM
(and drain). A node holds ``gpus_per_node`` replicas (one GPU each). Replicas are real
worker processes, started only on ready healthy nodes; ready = the worker's heartbeat in
``fs:workers:{model}`` says ``ready``.

A reserved pool launches at most its ``reservation_nodes`` and raises
ReservationExhausted for more. Fault knobs (settings or attributes): ``unavailable`` pools
raise InsufficientCapacity when asked to grow; ``never_ready`` pools launch nodes that
never become ready.

A model that is not registered (``fs:models``) is an ``ActuatorError``
(``unregistered-model``): counted and logged by the loop every tick, and no worker is
started for it. A worker that exits on its own is restarted with a backoff (``procs.py``)
and its reason (exit code, last lines of its stderr) is logged.

Lead time (``PoolObservation.lead_times_s``): ``lead_time="node"`` (the default) reports
launch -> node ready; ``lead_time="replica"`` reports launch -> the node's first worker
ready, which is what capacity really costs (the worker start comes on top of the launch)
and what the simulator reports (launch + model load).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Sequence
from typing import Literal

import redis.asyncio as aioredis

from forescale import keys
from forescale.controller.actuators.local_procs import ProcessTable
from forescale.controller.errors import ActuatorError
from forescale.controller.settings import LocalSettings
from forescale.core.clock import Clock, SystemClock
from forescale.core.model import PoolObservation, PoolSpec
from forescale.core.ports import PoolReplicas, ReplicaCounts
from forescale.queue import heartbeat
from forescale.sim.nodepool import Node, NodePools

log = logging.getLogger(__name__)
INF = math.inf
CLUSTER_PERIOD_S = 0.1  # how often the cluster loop looks (a kubelet reacts within this)


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
        self.lead_time = lead_time
        self.machine = NodePools(
            preempt_delay=self._preempt_delay,
            notice_s=lambda p: settings.interruption_notice_s,
            report_leads=lead_time == "node",
        )
        self.machine.unavailable |= _csv(settings.unavailable_pools)
        self.machine.never_ready |= _csv(settings.never_ready_pools)
        self.unavailable = self.machine.unavailable
        self.never_ready = self.machine.never_ready
        self.slots = self.machine.slots
        self.want: dict[tuple[str, str], int] = {}
        self.specs: dict[tuple[str, str], PoolSpec] = {}  # the pools the controller has used
        self.unregistered: set[str] = set()  # models the last observation found unregistered
        self._lock = asyncio.Lock()  # one reconcile at a time: two would both start the missing
        self._cluster: asyncio.Task[None] | None = None

    def _preempt_delay(self, pool: PoolSpec) -> float:
        rate = self.s.spot_interruptions_per_hour
        if pool.capacity_type != "spot" or rate <= 0:
            return INF
        return self.rng.expovariate(rate / 3600.0)

    # ------------------------------------------------------------ simulation
    def interrupt(self, model: str, pool: str) -> Node | None:
        """Deliver an interruption notice to the oldest healthy node (a test knob)."""
        noticed = self.machine.interrupt(model, pool, self.clock.now())
        return noticed[0] if noticed else None

    def _advance(self) -> None:
        """Drop nodes whose notice has run out (their workers get SIGTERM); reap workers."""
        now, wall = self.clock.now(), self.wall.now()
        for _, slot in self.machine.items():
            gone = {n.id for n in self.machine.drop_gone(slot, now)}
            for w in self.procs.procs:
                if w.node_id in gone:
                    self.procs.terminate(w, wall)
        self.procs.reap(wall)

    async def _registered(self, model: str) -> None:
        if not await self.redis.hexists(keys.MODELS, model):
            self.unregistered.add(model)  # the cluster loop starts none of its workers either
            raise ActuatorError(
                "unregistered-model",
                f"no model {model!r} in {keys.MODELS}; register it (`forescale models add`) "
                "or remove its policy",
            )
        self.unregistered.discard(model)

    def start(self, period_s: float = CLUSTER_PERIOD_S) -> None:
        """Run the cluster's own loop beside the controller (``service.serve`` does)."""
        if self._cluster is None:
            self._cluster = asyncio.create_task(self._run(period_s))

    async def _run(self, period_s: float) -> None:
        """What a cluster does between the controller's ticks, as kubelet and the node
        lifecycle controller do: a worker starts as soon as its node is ready, a noticed
        node goes when its notice runs out. Done only at the controller's calls, both
        waited for its next tick: a whole tick more of launch than the simulator's (and a
        real cluster's) node-ready-then-load, at every burst and spot outage of the demo."""
        while True:
            try:
                await self.step()
            except Exception:  # outermost loop of this task: log, keep running
                log.exception("local cluster step failed")
            await self.clock.sleep(period_s)

    async def step(self) -> None:
        """One pass of the cluster loop: drop gone nodes, start or stop workers."""
        self._advance()
        for (model, _), pool in list(self.specs.items()):
            if model not in self.unregistered:
                await self._reconcile(model, pool)

    async def _reconcile(self, model: str, pool: PoolSpec) -> None:
        """Start or stop workers so that healthy ready nodes carry the replicas wanted."""
        self.specs[(model, pool.name)] = pool
        async with self._lock:
            await self._reconcile_now(model, pool)

    async def _reconcile_now(self, model: str, pool: PoolSpec) -> None:
        slot, wall, now = self.machine.slot(model, pool.name), self.wall.now(), self.clock.now()
        want = self.want.get((model, pool.name), 0)
        healthy = [n for n in slot.nodes if n.healthy(now) and n.ready_at <= now]
        present = {n.id for n in slot.nodes}
        healthy_ids = {n.id for n in healthy}
        running = [w for w in self.procs.of(model, pool.name) if w.term_at is None]
        for w in running:
            if w.node_id not in present:  # its node was removed by a shrink
                self.procs.terminate(w, wall)
        on_healthy = [w for w in running if w.node_id in healthy_ids]
        for w in sorted(on_healthy, key=lambda w: -w.started_at)[: max(0, len(on_healthy) - want)]:
            self.procs.terminate(w, wall)  # newest first
        used = {n.id: 0 for n in healthy}
        for w in on_healthy:
            used[w.node_id] += 1
        missing = want - len(on_healthy)
        if missing > 0 and not self.procs.may_start(model, pool.name, wall):
            return  # it keeps failing: wait out the backoff (its reason was logged)
        for node in healthy:
            while missing > 0 and used[node.id] < pool.gpus_per_node:
                await self.procs.spawn(model, pool.name, node.id, wall)
                used[node.id] += 1
                missing -= 1

    # ------------------------------------------------------ NodePoolProvider
    async def observe(self, model: str, pools: Sequence[PoolSpec], now: float) -> tuple[PoolObservation, ...]:
        await self._registered(model)
        self._advance()
        out = []
        for pool in pools:
            await self._reconcile(model, pool)
            out.append(self.machine.observe(model, pool, now))
        return tuple(out)

    async def set_nodes(self, model: str, pool: PoolSpec, nodes: int, replicas: int) -> None:
        try:
            self.machine.set_nodes(model, pool, nodes, self.clock.now())
        finally:  # what was launched or removed before a capacity error still counts
            await self._reconcile(model, pool)

    # --------------------------------------------------------- ReplicaSetter
    async def replicas(self, model: str, pools: Sequence[PoolSpec]) -> PoolReplicas:
        ready_pids = (await heartbeat.live(self.redis, model, self.wall.now())).ready_pids
        counts = {}
        for pool in pools:
            want = self.want.get((model, pool.name), 0)
            serving = [w for w in self.procs.of(model, pool.name) if w.term_at is None]
            up = [w for w in serving if w.pid in ready_pids]
            ready = min(want, len(up))
            if self.lead_time == "replica":
                self._replica_lead_times(model, pool.name, {w.node_id for w in up})
            counts[pool.name] = ReplicaCounts(desired=want, ready=ready, starting=want - ready)
        return PoolReplicas(counts)

    def _replica_lead_times(self, model: str, pool: str, serving_nodes: set[int]) -> None:
        """Launch -> first ready worker, once per node (injected clock, like the launch)."""
        slot, now = self.machine.slot(model, pool), self.clock.now()
        for n in slot.nodes:
            if n.id in serving_nodes and not n.reported:
                n.reported = True
                slot.leads.append(now - n.launched_at)

    async def set_replicas(self, model: str, pool: PoolSpec, replicas: int) -> None:
        self.want[(model, pool.name)] = replicas
        await self._reconcile(model, pool)

    async def close(self) -> None:
        if self._cluster is not None:
            self._cluster.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cluster
        await self.procs.stop_all(self.wall.now())
