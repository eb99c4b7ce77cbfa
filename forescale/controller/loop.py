"""The reconcile loop: for each policy, observe -> decide -> actuate -> persist.

``tick()`` runs every policy once; ``run()`` is ``tick`` plus ``clock.sleep(interval)``
forever, with the only broad ``except`` at that outermost level (STYLE.md #5). One
policy's failure (an actuator or capacity error) is counted and does not stop the others.

Actuation order within a pool: growing, nodes before replicas (capacity first); shrinking,
replicas before nodes (never remove a node that still serves). Set calls are absolute
counts, so a tick repeated after a crash cannot scale up twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry

from forescale.controller.errors import ActuatorError
from forescale.controller.leader import LeaderElector
from forescale.controller.metrics import ControllerMetrics
from forescale.controller.store import Store
from forescale.core.clock import Clock
from forescale.core.errors import CapacityError
from forescale.core.model import Decision, Observation, PolicySpec, PolicyState, PoolSpec, PoolTarget
from forescale.core.policy import UnknownPolicy
from forescale.core.ports import MetricsSource, NodePoolProvider, PoolReplicas, ReplicaSetter

log = logging.getLogger(__name__)

DecideFn = Callable[[Observation, PolicySpec, Sequence[PoolSpec], PolicyState], tuple[Decision, PolicyState]]


def core_decide(
    obs: Observation, spec: PolicySpec, pools: Sequence[PoolSpec], state: PolicyState
) -> tuple[Decision, PolicyState]:
    """The decision core's entry point (imported late: it is the core team's module)."""
    from forescale.core import policy

    return policy.decide(obs, spec, pools, state)


class Controller:
    def __init__(
        self,
        store: Store,
        source: MetricsSource,
        nodes: NodePoolProvider,
        replicas: ReplicaSetter,
        clock: Clock,
        *,
        interval_s: float = 15.0,
        elector: LeaderElector | None = None,
        metrics: ControllerMetrics | None = None,
        decide: DecideFn = core_decide,
    ) -> None:
        self.store = store
        self.source = source
        self.nodes = nodes
        self.replicas = replicas
        self.clock = clock
        self.interval_s = interval_s
        self.elector = elector
        self.metrics = metrics or ControllerMetrics(CollectorRegistry())  # private unless given
        self.decide = decide

    async def tick(self) -> list[Decision]:
        """One pass over every policy; returns the decisions made (empty when not leader)."""
        if self.elector is not None and not self.elector.leading():
            return []
        started = time.perf_counter()  # tick duration is a measurement, not control time
        pools = [p.value for p in await self.store.list_pools()]
        self.metrics.catalog.update(pools)
        decisions = []
        for entry in await self.store.list_policies():
            try:
                decisions.append(await self.reconcile(entry.value, pools))
            except ActuatorError as exc:
                self.metrics.error(exc.kind)
                log.warning("%s: %s", entry.value.model, exc)
            except UnknownPolicy as exc:  # written past the admin API's check: skip this one
                self.metrics.error("unknown-policy")
                log.error("%s: %s", entry.value.model, exc)
        self.metrics.tick_seconds.observe(time.perf_counter() - started)
        return decisions

    async def reconcile(self, spec: PolicySpec, all_pools: Sequence[PoolSpec]) -> Decision:
        pools = [p for p in all_pools if not spec.pools or p.name in spec.pools]
        obs, current = await self.observe(spec, pools)
        state = await self.store.load_state(spec.model)
        decision, new_state = self.decide(obs, spec, pools, state)
        if spec.mode == "dry-run" and not decision.dry_run:
            decision = decision.model_copy(update={"dry_run": True})
        self.metrics.decided(decision, spec)
        if not decision.dry_run:
            await self.actuate(spec.model, decision, pools, current)
        await self.store.save_state(spec.model, new_state)
        await self.store.append_decision(decision)
        log.info("%s%s", "[dry-run] " if decision.dry_run else "", decision.summary())
        return decision

    async def observe(self, spec: PolicySpec, pools: Sequence[PoolSpec]) -> tuple[Observation, PoolReplicas]:
        now = self.clock.now()
        signals = await self.source.read(spec, now)
        pool_obs = await self.nodes.observe(spec.model, pools, now)
        current = await self.replicas.replicas(spec.model, pools)
        forecasts = await self.store.load_forecasts(spec.model)
        ready = {name: c.ready for name, c in current.by_pool.items()}
        obs = Observation(
            now=now,
            model=spec.model,
            rps_short=signals.rps_short,
            rps_stable=signals.rps_stable,
            queue_depth=signals.queue_depth,
            current_replicas=current.desired,
            ready_replicas=current.ready,
            starting_replicas=current.starting,
            pools=tuple(p.model_copy(update={"ready_replicas": ready.get(p.name, 0)}) for p in pool_obs),
            forecasts=forecasts,
            stale=signals.stale,
            metric_values=dict(signals.metrics),
        )
        self.metrics.observed(obs, {p.name: p for p in pools})
        return obs, current

    async def actuate(
        self, model: str, decision: Decision, pools: Sequence[PoolSpec], current: PoolReplicas
    ) -> None:
        targets = {t.pool: t for t in decision.pools}
        for pool in pools:
            now_replicas = current.by_pool[pool.name].desired if pool.name in current.by_pool else 0
            target = targets.get(pool.name)
            if target is None:
                if now_replicas == 0:
                    continue
                target = PoolTarget(pool=pool.name, capacity_type=pool.capacity_type, nodes=0, replicas=0)
            if target.replicas >= now_replicas:
                await self._set_nodes(model, pool, target)
                await self.replicas.set_replicas(model, pool, target.replicas)
            else:
                await self.replicas.set_replicas(model, pool, target.replicas)
                await self._set_nodes(model, pool, target)

    async def _set_nodes(self, model: str, pool: PoolSpec, target: PoolTarget) -> None:
        try:
            await self.nodes.set_nodes(model, pool, target.nodes, target.replicas)
        except CapacityError as exc:
            # The provider recorded it; the next observation carries insufficient_capacity_at
            # and the core moves the shortfall to another pool.
            self.metrics.error(type(exc).__name__)
            log.warning("%s: %s", model, exc)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Tick every ``interval_s`` until ``stop`` is set."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:  # outermost loop: log, count, keep reconciling
                self.metrics.error("tick")
                log.exception("tick failed")
            await self.clock.sleep(self.interval_s)
