"""The simulated cluster as the core's ports, so ``core.execute.execute`` drives it.

The simulator carries out a tick's commands exactly as the controller does: the same
``plan_tick`` commands, in the same order, through ``NodePoolProvider`` /
``ReplicaSetter``. A pool that cannot grow raises ``InsufficientCapacity`` like a cloud
provider (the shared pool state machine, ``sim/nodepool.py``, raises it); ``execute``
counts it and the next observation carries it (no second decision in the same tick: the
controller does not make one either).

The methods are ``async`` to satisfy the ports but never suspend, so the simulator runs
``execute`` with ``core.execute.drive`` and no event loop.
"""

from __future__ import annotations

from collections.abc import Sequence

from forescale.core.model import PoolObservation, PoolSpec
from forescale.core.ports import PoolReplicas, ReplicaCounts
from forescale.sim.cluster import Cluster


class ClusterPorts:
    """``NodePoolProvider`` and ``ReplicaSetter`` over one simulated ``Cluster`` at ``now``.

    ``warm`` provisions ready at once (the start of a replay); ``log`` records every call
    in order, in the shape of ``core.tick`` commands' fields, for parity tests.
    """

    def __init__(self, cluster: Cluster, now: float, *, warm: bool = False) -> None:
        self.cluster = cluster
        self.now = now
        self.warm = warm
        self.log: list[tuple[str, str, str, int]] = []  # (kind, model, pool, count)

    async def observe(self, model: str, pools: Sequence[PoolSpec], now: float) -> tuple[PoolObservation, ...]:
        names = {p.name for p in pools}
        return tuple(p for p in self.cluster.observe(now) if p.name in names)

    async def set_nodes(self, model: str, pool: PoolSpec, nodes: int, replicas: int) -> None:
        self.log.append(("nodes", model, pool.name, nodes))
        # raises InsufficientCapacity / ReservationExhausted as a cloud provider would
        self.cluster.machine.set_nodes(
            model, self.cluster.pools[pool.name].spec, nodes, self.now, warm=self.warm
        )

    async def replicas(self, model: str, pools: Sequence[PoolSpec]) -> PoolReplicas:
        counts = {}
        for p in pools:
            sim_pool = self.cluster.pools[p.name]
            ready = self.cluster.ready_replicas(sim_pool, self.now)
            want = sim_pool.requested
            counts[p.name] = ReplicaCounts(
                desired=want, ready=min(ready, want), starting=max(0, want - ready)
            )
        return PoolReplicas(counts)

    async def set_replicas(self, model: str, pool: PoolSpec, replicas: int) -> None:
        self.log.append(("replicas", model, pool.name, replicas))
        self.cluster.set_replicas(pool.name, replicas, self.now, warm=self.warm)

    async def close(self) -> None:
        return None
