"""Nodes the way Karpenter provisions them, for the reactive peers.

Pods are what a Deployment scaled by HPA asks for; nodes follow pods, as Karpenter does:

- **launch for pending pods only**, on the cheapest offering first (price per replica,
  spot included; a capacity reservation, already paid for, before anything else);
- **insufficient capacity falls back**: an offering that fails to launch (ICE, or the
  pool's limit) goes into an unavailable-offerings cache for 3 minutes (Karpenter's
  ``UnavailableOfferingsTTL``) and the remaining pods go to the next offering at once, as
  the next provisioning loop a few seconds later would do. A spot interruption notice
  also marks its offering unavailable (Karpenter's interruption controller does);
- **pods of interrupted nodes** are recreated and scheduled like any pending pod, so a
  replacement launches as soon as the notice is seen;
- **scale-down**: HPA deletes pods; we take them from the priciest pool first, which is
  where Karpenter's consolidation would move them from anyway (it replaces pricier
  nodes by cheaper ones when the pods fit); a node left **empty** for
  ``consolidate_after_s`` is deleted (``consolidationPolicy: WhenEmptyOrUnderutilized``
  with ``consolidateAfter``). Reserved nodes are never removed (they are paid for).

Everything this module needs of the simulated cluster goes through the few functions at
the bottom (``_healthy``, ``_placed``, ``_drop_nodes``), so a change of the cluster's
internals touches them only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from forescale.sim.oracle import cheapest_first

if TYPE_CHECKING:
    from forescale.sim.engine import Simulation

UNAVAILABLE_TTL_S = 180.0  # Karpenter's unavailable-offerings cache
CONSOLIDATE_AFTER_S = 60.0  # a common consolidateAfter for GPU node pools


@dataclass
class KarpenterNodes:
    """Places ``desired`` replicas on pools and launches/removes nodes like Karpenter."""

    consolidate_after_s: float = CONSOLIDATE_AFTER_S
    unavailable_ttl_s: float = UNAVAILABLE_TTL_S  # the demo scales it with its other durations
    alloc: dict[str, int] = field(default_factory=dict)  # replicas asked for, per pool
    unavailable: dict[str, float] = field(default_factory=dict)  # pool -> when marked
    empty_since: dict[int, float] = field(default_factory=dict)  # id(node) -> first seen empty
    seen_notices: float = -math.inf
    failed: list[tuple[str, float]] = field(default_factory=list)  # (pool, when) per ICE

    def reconcile(self, sim: Simulation, desired: int, now: float, *, warm: bool = False) -> None:
        scen = sim.scenario
        order = cheapest_first(scen)
        slots = {p.name: scen.replicas_per_node(p) for p in scen.pools}
        self._note_interruptions(sim, now)
        # Pods on nodes under notice, or never placed, are pending again (recreated pods).
        for name in sim.cluster.pools:
            self.alloc[name] = min(self.alloc.get(name, 0), _placed(sim, name, now))
        total = sum(self.alloc.values())
        if desired < total:
            self._remove_pods(order[::-1], total - desired)
        elif desired > total:
            pending = desired - total
            for pool in order:  # free slots on nodes already there (or starting) first
                free = len(_healthy(sim, pool.name, now)) * slots[pool.name] - self.alloc[pool.name]
                take = min(pending, max(0, free))
                self.alloc[pool.name] += take
                pending -= take
            for pool in order:
                if pending <= 0:
                    break
                if now - self.unavailable.get(pool.name, -math.inf) < self.unavailable_ttl_s:
                    continue
                pending -= self._launch(sim, pool.name, pending, slots[pool.name], now, warm)
        for name, count in self.alloc.items():
            sim.cluster.set_replicas(name, count, now, warm=warm)
        self._consolidate(sim, now)

    def _launch(self, sim: Simulation, name: str, pending: int, slots: int, now: float, warm: bool) -> int:
        """Launch nodes for ``pending`` pods in one pool; the pods it took."""
        before = len(_healthy(sim, name, now))
        want = math.ceil(pending / slots)
        sim.cluster.set_nodes(name, before + want, now, warm=warm)
        launched = len(_healthy(sim, name, now)) - before
        if launched < want:  # insufficient capacity or the pool's limit
            self.unavailable[name] = now
            self.failed.append((name, now))
        took = min(pending, max(0, launched) * slots)
        self.alloc[name] += took
        return took

    def _remove_pods(self, priciest_first: list[Any], count: int) -> None:
        for pool in priciest_first:
            take = min(count, self.alloc[pool.name])
            self.alloc[pool.name] -= take
            count -= take
            if count <= 0:
                return

    def _note_interruptions(self, sim: Simulation, now: float) -> None:
        for name, pool in sim.cluster.pools.items():
            if any(self.seen_notices < n.notice_at <= now for n in pool.nodes):
                self.unavailable[name] = now
        self.seen_notices = now

    def _consolidate(self, sim: Simulation, now: float) -> None:
        alive: set[int] = set()
        for name, pool in sim.cluster.pools.items():
            if pool.scen.capacity_type == "reserved":
                continue
            gone = []
            for node in _healthy(sim, name, now):
                if node.replicas or node.ready_at > now:
                    continue
                since = self.empty_since.setdefault(id(node), now)
                alive.add(id(node))
                if now - since >= self.consolidate_after_s:
                    gone.append(node)
            _drop_nodes(sim, name, gone)
        self.empty_since = {k: v for k, v in self.empty_since.items() if k in alive}


# ---------------------------------------------------------------- the cluster, as used here


def _healthy(sim: Simulation, name: str, now: float) -> list[Any]:
    """Nodes of the pool with no interruption notice (ready or starting)."""
    return sim.cluster.pools[name].healthy(now)


def _placed(sim: Simulation, name: str, now: float) -> int:
    """Replicas sitting on healthy nodes of the pool."""
    return sum(len(n.replicas) for n in _healthy(sim, name, now))


def _drop_nodes(sim: Simulation, name: str, nodes: list[Any]) -> None:
    """Delete these nodes now (billing already ran up to now)."""
    if nodes:
        gone = set(map(id, nodes))
        pool = sim.cluster.pools[name]
        pool.nodes = [n for n in pool.nodes if id(n) not in gone]
