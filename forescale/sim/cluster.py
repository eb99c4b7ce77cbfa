"""Simulated nodes and replicas: launch delays, model loads, spot notices, ICE, billing.

Nodes are individual records (a few hundred at most), so preemptions and lead times are
per node. Replicas sit in a node's slots (``gpus_per_node // gpus_per_replica``); a
replica asked for with no free slot is pending until a node has room (what Kubernetes
does with an unschedulable pod). Billing runs from launch until the node is removed or
gone; a reserved pool is billed for its reservation whether used or not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from forescale.core.model import PoolObservation
from forescale.sim.scenario import PoolScenario, Scenario
from forescale.sim.spot import Availability, launch_delay, pool_availability, preemption_delay

INF = math.inf


@dataclass(eq=False)
class Node:
    launched_at: float
    ready_at: float
    notice_at: float = INF
    gone_at: float = INF
    replicas: list[float] = field(default_factory=list)  # ready time of each replica on it
    reported: bool = False  # lead time already observed


@dataclass(eq=False)
class Pool:
    scen: PoolScenario
    slots: int  # replicas per node
    avail: Availability
    nodes: list[Node] = field(default_factory=list)
    requested: int = 0  # replicas asked for (placed or pending)
    insufficient_at: float | None = None
    noticed_since: float = -INF  # interruptions are counted from here at the next observe
    preemptions: int = 0
    cost_usd: float = 0.0
    gpu_s: float = 0.0

    def healthy(self, now: float) -> list[Node]:
        return [n for n in self.nodes if n.notice_at > now]


class Cluster:
    def __init__(self, scenario: Scenario, start: float, rng: np.random.Generator) -> None:
        self.scenario = scenario
        self.start = start
        self.rng = rng
        self.load_s = scenario.model.load_time_s
        self.pools = {
            p.name: Pool(p, scenario.replicas_per_node(p), pool_availability(p)) for p in scenario.pools
        }

    # ------------------------------------------------------------------ actuation

    def allowed_nodes(self, pool: Pool, now: float) -> int:
        """Nodes the provider will let this pool hold now (spot availability x max)."""
        return math.floor(pool.avail.at(now - self.start) * pool.scen.max_nodes + 1e-9)

    def set_nodes(self, name: str, count: int, now: float, *, warm: bool = False) -> bool:
        """Grow or shrink to ``count`` healthy nodes; False when capacity ran out (ICE)."""
        pool = self.pools[name]
        healthy = pool.healthy(now)
        count = max(0, min(count, pool.scen.max_nodes))
        if count < len(healthy):
            self._remove(pool, healthy, len(healthy) - count, now)
            return True
        room = max(0, self.allowed_nodes(pool, now) - len(healthy))
        launch = min(count - len(healthy), room)
        for _ in range(launch):
            ready = now if warm else now + launch_delay(pool.scen, self.rng)
            node = Node(launched_at=now, ready_at=ready, reported=warm)
            node.notice_at = now + preemption_delay(pool.scen, self.rng)
            node.gone_at = node.notice_at + self._notice_s(pool)
            pool.nodes.append(node)
        if launch < count - len(healthy):
            pool.insufficient_at = now
            return False
        return True

    def set_replicas(self, name: str, count: int, now: float, *, warm: bool = False) -> None:
        pool = self.pools[name]
        pool.requested = max(0, count)
        healthy = pool.healthy(now)
        excess = sum(len(n.replicas) for n in healthy) - pool.requested
        # Remove starting replicas first, then from the emptiest nodes (so nodes free up).
        # Replicas on nodes under an interruption notice serve until the node goes; their
        # replacements are asked for like any other replica.
        for node in sorted(healthy, key=lambda n: (-max(n.replicas, default=0), len(n.replicas))):
            while excess > 0 and node.replicas:
                node.replicas.remove(max(node.replicas))
                excess -= 1
        self.place(name, now, warm=warm)

    def place(self, name: str, now: float, *, warm: bool = False) -> None:
        """Put pending replicas on free slots of healthy nodes, ready nodes first."""
        pool = self.pools[name]
        healthy = pool.healthy(now)
        pending = pool.requested - sum(len(n.replicas) for n in healthy)
        for node in sorted(healthy, key=lambda n: n.ready_at):
            while pending > 0 and len(node.replicas) < pool.slots:
                node.replicas.append(now if warm else max(node.ready_at, now) + self.load_s)
                pending -= 1

    def _remove(self, pool: Pool, healthy: list[Node], count: int, now: float) -> None:
        """Starting nodes first (newest first), then the ready nodes with fewest replicas."""
        order = sorted(healthy, key=lambda n: (n.ready_at <= now, len(n.replicas), -n.launched_at))
        gone = set(map(id, order[:count]))  # already billed up to now by advance()
        pool.nodes = [n for n in pool.nodes if id(n) not in gone]

    def _notice_s(self, pool: Pool) -> float:
        return pool.scen.spot.notice_s if pool.scen.spot else 0.0

    # ------------------------------------------------------------------ time passing

    def interrupt_unavailable(self, now: float) -> None:
        """Spot availability fell below what is held: notices to the newest nodes."""
        for pool in self.pools.values():
            if pool.scen.spot is None:
                continue
            healthy = pool.healthy(now)
            over = len(healthy) - self.allowed_nodes(pool, now)
            for node in sorted(healthy, key=lambda n: -n.launched_at)[: max(0, over)]:
                node.notice_at = now
                node.gone_at = now + self._notice_s(pool)

    def advance(self, t0: float, t1: float, cap: np.ndarray, offset: int) -> None:
        """Add ready replicas per second of ``[t0, t1)`` into ``cap[offset:]``; bill; drop gone nodes."""
        steady = 0
        for pool in self.pools.values():
            for node in pool.nodes:
                self._bill(pool, node, t0, t1)
                end = min(node.gone_at, t1)
                for ready in node.replicas:
                    if ready <= t0 and end >= t1:
                        steady += 1
                    elif ready < end:
                        a = offset + max(0, math.ceil(ready - t0))
                        b = offset + math.ceil(end - t0)
                        cap[a:b] += 1
            gone = [n for n in pool.nodes if n.gone_at <= t1]
            if gone:
                pool.preemptions += len(gone)
                pool.nodes = [n for n in pool.nodes if n.gone_at > t1]
            self._bill_reservation(pool, t0, t1)
        cap[offset : offset + math.ceil(t1 - t0)] += steady

    def _bill(self, pool: Pool, node: Node, t0: float, t1: float) -> None:
        """Bill ``node`` for its life inside ``[t0, t1)``; reserved pools bill in _bill_reservation."""
        seconds = max(0.0, min(t1, node.gone_at) - max(t0, node.launched_at))
        pool.gpu_s += seconds * pool.scen.gpus_per_node
        if pool.scen.capacity_type != "reserved":
            pool.cost_usd += seconds * pool.scen.price_per_node_hour / 3600.0

    def _bill_reservation(self, pool: Pool, t0: float, t1: float) -> None:
        if pool.scen.capacity_type != "reserved":
            return
        held = sum(1 for n in pool.nodes if n.launched_at <= t0)
        billed = max(held, pool.scen.reservation_nodes)
        pool.cost_usd += billed * (t1 - t0) * pool.scen.price_per_node_hour / 3600.0
        pool.gpu_s += max(0, pool.scen.reservation_nodes - held) * (t1 - t0) * pool.scen.gpus_per_node

    # ------------------------------------------------------------------ observing

    def observe(self, now: float, *, count_events: bool = True) -> tuple[PoolObservation, ...]:
        """What each pool looks like; lead times and interruptions are reported once
        (``count_events=False`` looks again without reporting them a second time)."""
        return tuple(self._observe(pool, now, count_events) for pool in self.pools.values())

    def _observe(self, pool: Pool, now: float, count_events: bool) -> PoolObservation:
        healthy = pool.healthy(now)
        ready_nodes = sum(1 for n in healthy if n.ready_at <= now)
        leads = []
        noticed = 0
        if count_events:
            for node in healthy:
                if not node.reported and node.ready_at + self.load_s <= now:
                    node.reported = True
                    leads.append(node.ready_at + self.load_s - node.launched_at)
            noticed = sum(1 for n in pool.nodes if pool.noticed_since < n.notice_at <= now)
            pool.noticed_since = now
        return PoolObservation(
            name=pool.scen.name,
            ready_nodes=ready_nodes,
            starting_nodes=len(healthy) - ready_nodes,
            draining_nodes=len(pool.nodes) - len(healthy),
            ready_replicas=self.ready_replicas(pool, now),
            replicas=pool.requested,
            insufficient_capacity_at=pool.insufficient_at,
            interruptions=noticed,
            lead_times_s=tuple(leads),
        )

    def ready_replicas(self, pool: Pool, now: float) -> int:
        return sum(sum(1 for r in n.replicas if r <= now) for n in pool.nodes if n.gone_at > now)

    def placed_replicas(self, pool: Pool, now: float) -> int:
        return sum(len(n.replicas) for n in pool.nodes if n.gone_at > now)
