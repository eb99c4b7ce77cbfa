"""The reconcile loop: observe every model -> ``plan_tick`` -> ``execute`` -> persist.

``tick()`` observes every policy's model (concurrently, at most ``concurrency`` at a
time: at a thousand models one after another a tick would take minutes), decides them all
in one ``core.tick.plan_tick`` (one reservation ledger for all, commands in order), and
carries the commands out with ``core.execute.execute``, the same code the simulator and
the local provider run. ``run()`` is ``tick`` every ``interval`` forever, with the only broad
``except`` at that outermost level (STYLE.md #5). Ticks fall on the epoch grid of the interval,
``TICK_OFFSET_S`` after it: the routers flush each second's arrival counters just after it
ends (``router/state.py``), so the rate windows a tick reads end with the last whole second,
complete, whatever the tick's processing time (once, the tick's phase drifted and the window's
newest second was up to a second staler from one run to the next).

A model whose observation or actuation fails (``ActuatorError``) is counted and skipped;
its state is not persisted, so the next tick decides again from what is really there.
Why it was skipped is stored too (``Store.save_tick``: ``fs:controller:errors``), so
``/v1/status`` shows the error the counter only counts. Redis is read and written once
per tick each (pipelines over all models), not once per model and key.
Insufficient capacity is not a failure: ``execute`` counts it and the next observation
carries it (the one channel). Clock faults (``clockfault.py``) hold a model's replicas.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from prometheus_client import CollectorRegistry

from forescale.controller.clockfault import ClockGuard
from forescale.controller.errors import ActuatorError
from forescale.controller.heap import young_only
from forescale.controller.leader import LeaderElector
from forescale.controller.metrics import ControllerMetrics
from forescale.controller.store import ModelError, Store
from forescale.core.clock import Clock, to_grid
from forescale.core.execute import Executed, Ports, execute
from forescale.core.ledger import ReservationLedger
from forescale.core.model import Decision, Forecast, Observation, PolicySpec, PolicyState, PoolSpec
from forescale.core.observe import BadObservation, assemble
from forescale.core.poolview import allowed
from forescale.core.ports import MetricsSource, NodePoolProvider, PoolReplicas, ReplicaSetter
from forescale.core.tick import TickDecideFn, TickPlan, plan_tick

log = logging.getLogger(__name__)
# After the interval's grid point: the routers' flush of the last whole second is in Redis by then.
TICK_OFFSET_S = 0.25

T = TypeVar("T")

DecideFn = TickDecideFn


def core_decide(
    obs: Observation, spec: PolicySpec, pools: Sequence[PoolSpec], state: PolicyState,
    ledger: ReservationLedger | None = None,
) -> tuple[Decision, PolicyState]:  # fmt: skip
    """The decision core's entry point."""
    from forescale.core import policy

    return policy.decide(obs, spec, pools, state, ledger)


def _kind(err: BaseException) -> str:
    """The error counter's ``kind`` label for what skipped a model."""
    if isinstance(err, ActuatorError):
        return err.kind
    return "bad-observation" if isinstance(err, BadObservation) else type(err).__name__


def _model_error(err: BaseException, at: float) -> ModelError:
    """The error a skipped model shows in /v1/status: the counter's kind and the sentence."""
    kind = _kind(err)
    return ModelError(kind=kind, detail=str(err).removeprefix(f"{kind}: "), at=at)


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
        concurrency: int = 32,
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
        self.concurrency = max(1, concurrency)
        self.guard = ClockGuard(interval_s)
        self.last_executed: Executed | None = None  # what the last tick carried out (tests, sim parity)

    async def _bounded(self, jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T | BaseException]:
        """Run ``jobs`` at most ``concurrency`` at a time; errors are returned, not raised."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(job: Callable[[], Awaitable[T]]) -> T:
            async with gate:
                return await job()

        return await asyncio.gather(*(one(j) for j in jobs), return_exceptions=True)

    async def tick(self) -> list[Decision]:
        """One pass over every policy; returns the decisions carried out (empty when not leader)."""
        if self.elector is not None and not self.elector.leading():
            return []
        started = time.perf_counter()  # tick duration is a measurement, not control time
        pools = [p.value for p in await self.store.pools.list()]
        self.metrics.catalog.update(pools)
        specs = [e.value for e in await self.store.policies.list()]
        skipped: dict[str, ModelError] = {}
        now = self.clock.now()
        observations, states = await self._observe_all(specs, pools, skipped)
        with young_only():  # a collection inside the tick walks only the tick's objects (heap.py)
            plan, new_states = plan_tick(observations, specs, pools, states, decide_fn=self.decide)
        for model, why in plan.errors:  # written past the admin API's check: skip this one
            self.metrics.error("unknown-policy")
            skipped[model] = ModelError(kind="unknown-policy", detail=why, at=now)
            log.error("%s: %s", model, why)
        done = await self.carry_out(plan, pools)
        for model, err in done.failed.items():
            skipped[model] = _model_error(err, now)
        decisions = [self.guard.annotate(d) for d in plan.decisions if d.model not in done.failed]
        by_model = {s.model: s for s in specs}
        for d in decisions:
            self.metrics.decided(d, by_model[d.model])
            log.info("%s%s", "[dry-run] " if d.dry_run else "", d.summary())
        await self.store.save_tick([(d, new_states[d.model]) for d in decisions], skipped)
        self.metrics.tick_seconds.observe(time.perf_counter() - started)
        return decisions

    async def _observe_all(
        self, specs: Sequence[PolicySpec], pools: Sequence[PoolSpec], skipped: dict[str, ModelError]
    ) -> tuple[dict[str, Observation], dict[str, PolicyState]]:
        inputs = await self.store.load_inputs([s.model for s in specs])

        async def job_for(spec: PolicySpec) -> Observation:
            obs, _ = await self.observe(spec, allowed(spec, pools), inputs[spec.model][1])
            return obs

        self.guard.faults.clear()
        results = await self._bounded([lambda s=s: job_for(s) for s in specs])  # type: ignore[misc]
        observations: dict[str, Observation] = {}
        states: dict[str, PolicyState] = {}
        for spec, got in zip(specs, results, strict=True):
            if isinstance(got, ActuatorError | BadObservation):
                # one model's unreadable ports (or a NaN a source let through) skip that model
                # this tick, as a failed actuator call does; the others are still decided
                self.metrics.error(_kind(got))
                skipped[spec.model] = _model_error(got, self.clock.now())
                log.warning("%s: %s", spec.model, got)
                continue
            if isinstance(got, BaseException):
                raise got  # not ours to swallow: run()'s outermost handler counts it
            obs, state = self.guard.check(got, inputs[spec.model][0], self.metrics)
            observations[spec.model], states[spec.model] = obs, state
        return observations, states

    async def carry_out(self, plan: TickPlan, pools: Sequence[PoolSpec]) -> Executed:
        """``execute`` the plan's commands through this controller's ports; count what failed."""
        ports = Ports(self.nodes, self.replicas, {p.name: p for p in pools})
        done = await execute(plan, ports, errors=(ActuatorError,))
        for cmd, exc in done.capacity:
            # The provider recorded it; the next observation carries insufficient_capacity_at
            # and the core moves the shortfall to another pool.
            self.metrics.error(type(exc).__name__)
            log.warning("%s: %s", cmd.model, exc)
        for model, err in done.failed.items():
            self.metrics.error(_kind(err))
            log.warning("%s: %s", model, err)
        self.last_executed = done
        return done

    async def observe(
        self, spec: PolicySpec, pools: Sequence[PoolSpec], forecasts: tuple[Forecast, ...] | None = None
    ) -> tuple[Observation, PoolReplicas]:
        """One model's observation; ``forecasts`` as the tick loaded them (else read here)."""
        now = self.clock.now()
        signals = await self.source.read(spec, now)
        pool_obs = await self.nodes.observe(spec.model, pools, now)
        current = await self.replicas.replicas(spec.model, pools)
        if forecasts is None:
            forecasts = await self.store.load_forecasts(spec.model)
        obs = assemble(now, spec.model, signals, pool_obs, current, forecasts)
        self.metrics.observed(obs, {p.name: p for p in pools})
        return obs, current

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Tick every ``interval_s`` until ``stop`` is set."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:  # outermost loop: log, count, keep reconciling
                self.metrics.error("tick")
                log.exception("tick failed")
            await self.clock.sleep(to_grid(self.clock.now(), self.interval_s, TICK_OFFSET_S))
