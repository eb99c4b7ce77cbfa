"""Simulated nodes and replicas: launch delays, model loads, spot notices, ICE, billing.

Nodes are individual records (a few hundred at most), so preemptions and lead times are
per node. Replicas sit in a node's slots (``gpus_per_node // gpus_per_replica``); a
replica asked for with no free slot is pending until a node has room (what Kubernetes
does with an unschedulable pod). Billing runs from launch until the node is removed or
gone; a reserved pool is billed for its reservation whether used or not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from forescale.core.errors import CapacityError
from forescale.core.model import PoolObservation, PoolSpec
from forescale.sim.nodepool import INF, Node, NodePools, Slot
from forescale.sim.scenario import PoolScenario, Scenario
from forescale.sim.spot import Availability, launch_delay, pool_availability, preemption_delay

__all__ = ["INF", "Cluster", "Node", "Pool"]


@dataclass(eq=False)
class Pool:
    """A simulated pool: its nodes (in the shared ``NodePools`` machine) plus billing."""

    scen: PoolScenario
    spec: PoolSpec
    slots: int  # replicas per node
    avail: Availability
    slot: Slot
    requested: int = 0  # replicas asked for (placed or pending)
    preemptions: int = 0
    cost_usd: float = 0.0
    gpu_s: float = 0.0

    @property
    def nodes(self) -> list[Node]:
        return self.slot.nodes

    @nodes.setter
    def nodes(self, value: list[Node]) -> None:
        self.slot.nodes = value

    @property
    def insufficient_at(self) -> float | None:
        return self.slot.insufficient_at

    def healthy(self, now: float) -> list[Node]:
        return self.slot.healthy(now)


class Cluster:
    """One model's pools for a replay: node timing, spot notices and ICE in ``NodePools``
    (the machine the local provider and the test fakes share); replica placement, model
    loads and billing here."""

    def __init__(self, scenario: Scenario, start: float, rng: np.random.Generator) -> None:
        self.scenario = scenario
        self.start = start
        self.rng = rng
        self.load_s = scenario.model.load_time_s
        self.model = scenario.policy.model
        by_name = {p.name: p for p in scenario.pools}
        self.machine = NodePools(
            launch_delay=lambda p: launch_delay(by_name[p.name], rng),
            preempt_delay=lambda p: preemption_delay(by_name[p.name], rng),
            notice_s=lambda p: self._notice_s(by_name[p.name]),
            room=lambda p, now: self.allowed_nodes(self.pools[p.name], now),
            load_s=self.load_s,
        )
        self.pools = {
            p.name: Pool(
                p,
                spec,
                scenario.replicas_per_node(p),
                pool_availability(p),
                self.machine.slot(self.model, p.name),
            )
            for p, spec in zip(scenario.pools, scenario.pool_specs(), strict=True)
        }

    # ------------------------------------------------------------------ actuation

    def allowed_nodes(self, pool: Pool, now: float) -> int:
        """Nodes the provider will let this pool hold now (spot availability x max)."""
        return math.floor(pool.avail.at(now - self.start) * pool.scen.max_nodes + 1e-9)

    def set_nodes(self, name: str, count: int, now: float, *, warm: bool = False) -> bool:
        """Grow or shrink to ``count`` healthy nodes; False when capacity ran out (ICE)."""
        try:
            self.machine.set_nodes(self.model, self.pools[name].spec, count, now, warm=warm)
        except CapacityError:
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

    def _notice_s(self, pool: PoolScenario) -> float:
        return pool.spot.notice_s if pool.spot else 0.0

    # ------------------------------------------------------------------ time passing

    def interrupt_unavailable(self, now: float) -> None:
        """Spot availability fell below what is held: notices to the newest nodes."""
        for pool in self.pools.values():
            if pool.scen.spot is None:
                continue
            over = len(pool.healthy(now)) - self.allowed_nodes(pool, now)
            self.machine.notice_newest(pool.slot, pool.spec, over, now)

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
                        # The share of each second it serves: a replica ready or gone
                        # mid-second serves part of it (rounding either way moved a live
                        # run's capacity by up to a second at each burst and outage).
                        lo, hi = max(ready, t0) - t0, end - t0
                        a, b = math.floor(lo), math.ceil(hi)
                        cap[offset + a : offset + b] += 1
                        cap[offset + a] -= lo - a
                        cap[offset + b - 1] -= b - hi
            pool.preemptions += len(self.machine.drop_gone(pool.slot, t1))
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
        """What each pool looks like; lead times (launch to replica ready) and interruptions
        are reported once (``count_events=False`` looks again without reporting them)."""
        out = []
        for pool in self.pools.values():
            seen = self.machine.observe(self.model, pool.spec, now, count_events=count_events)
            out.append(seen.model_copy(
                update={"ready_replicas": self.ready_replicas(pool, now), "replicas": pool.requested}
            ))  # fmt: skip
        return tuple(out)

    def ready_replicas(self, pool: Pool, now: float) -> int:
        return sum(sum(1 for r in n.replicas if r <= now) for n in pool.nodes if n.gone_at > now)

    def placed_replicas(self, pool: Pool, now: float) -> int:
        return sum(len(n.replicas) for n in pool.nodes if n.gone_at > now)
