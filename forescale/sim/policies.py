"""The policies a simulation compares: the core (``forescale``, ``hpa``) and ``static``.

``forescale`` runs the full core ``decide()`` with forecasts from a forecaster that only
ever sees the past (token throughput too, by a second instance, when the trace has token
counts and the policy sets ``service_tokens_per_replica``: the token floor); ``hpa`` runs
the core's ``hpa`` policy (HPA v2 defaults) and, like
Cluster Autoscaler or Karpenter, adds nodes only when pods are pending and removes a node
only after it has been unneeded for 10 minutes, on reserved and on-demand pools only.
``static`` holds the trace's peak need from the start. The oracle is in ``oracle.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from forescale.core.execute import Ports, drive, execute
from forescale.core.model import (
    Forecast,
    Observation,
    PolicyState,
    PoolSpec,
    hpa_default_scale_down,
    hpa_default_scale_up,
)
from forescale.core.policy import decide
from forescale.core.tick import plan_tick
from forescale.prescaler.base import Forecaster, RateSeries, get_forecaster
from forescale.prescaler.tokens import with_tokens
from forescale.sim.engine import Simulation
from forescale.sim.forecast_cache import SharedForecasts, shared_forecasts
from forescale.sim.oracle import cheapest_first
from forescale.sim.ports import ClusterPorts
from forescale.sim.scenario import PoolScenario, Scenario

HISTORY_STEP_S = 60.0
FORECAST_EVERY_S = 60.0
CA_UNNEEDED_S = 600.0  # Cluster Autoscaler's default --scale-down-unneeded-time
WARM_S = 300  # the initial capacity is sized for this many first seconds' mean demand


class CorePolicy:
    """Runs the controller's tick: ``plan_tick`` for the model, ``execute`` on the cluster.

    Exactly what the controller does with the same observation: the same commands in the
    same order; insufficient capacity reaches the policy through the next observation.
    """

    def __init__(
        self, name: str, scenario: Scenario, forecaster: str | None, refit_s: float, share: bool = True
    ) -> None:
        self.name = name
        self.spec = scenario.policy
        self.pools: Sequence[PoolSpec] = scenario.pool_specs()
        self.state = PolicyState()
        self.forecaster_name = forecaster
        self.share = share
        self.forecaster: Forecaster | None = get_forecaster(forecaster) if forecaster else None
        self.token_forecaster: Forecaster | None = None  # set at start when the floor reads tokens
        self.token_history: RateSeries | None = None
        # the named forecaster's answers, shared with every other run on the same history
        # (forecast_cache.py); None for a forecaster set some other way (clairvoyant)
        self.shared: SharedForecasts | None = None
        self.token_shared: SharedForecasts | None = None
        self.refit_s = refit_s
        self.history: RateSeries | None = None
        self.fitted_at = -math.inf
        self.forecast: Forecast | None = None
        self.forecast_at = -math.inf
        self.record = False  # keep each tick's port calls in ``calls`` (parity tests)
        self.calls: list[list[tuple[str, str, str, int]]] = []
        lead = max(p.lead_time_s for p in self.pools)
        self.horizon_s = 2 * lead + 2 * FORECAST_EVERY_S

    def make_token_forecaster(self, sim: Simulation) -> Forecaster | None:
        """The token throughput forecaster: the same kind as the request rate's."""
        return get_forecaster(self.forecaster_name) if self.forecaster_name else None

    def start(self, sim: Simulation) -> None:
        if self.forecaster is not None:
            self.history = minute_history(sim.demand, sim.start)
            if self.forecaster_name is not None and self.share:
                self.shared = shared_forecasts(self.forecaster_name, self.history)
            if sim.tokens is not None and self.spec.prescale.service_tokens_per_replica is not None:
                self.token_forecaster = self.make_token_forecaster(sim)
                self.token_history = minute_history(sim.tokens, sim.start)
                if self.forecaster_name is not None and self.share:
                    self.token_shared = shared_forecasts(self.forecaster_name, self.token_history)
        # Warm start: every policy begins provisioned for the first minutes' mean demand,
        # ready at once, as a cluster that has been running would be.
        rate = float(sim.demand[:WARM_S].mean()) if len(sim.demand) else 0.0
        warm = math.ceil(rate / self.spec.target_rps_per_replica - 1e-9)
        warm = min(max(warm, self.spec.min_replicas), self.spec.max_replicas)
        obs = sim.observation(sim.start).model_copy(
            update={
                "rps_short": rate,
                "rps_stable": rate,
                "current_replicas": warm,
                "ready_replicas": warm,
            }
        )
        self._act(sim, obs, warm=True)

    def tick(self, sim: Simulation, obs: Observation) -> None:
        self._act(sim, obs, warm=False)

    def _act(self, sim: Simulation, obs: Observation, *, warm: bool) -> None:
        if self.forecaster is not None:
            obs = obs.model_copy(update={"forecasts": self._forecasts(obs.now)})
        model = self.spec.model
        plan, states = plan_tick({model: obs}, [self.spec], self.pools, {model: self.state})
        self.state = states.get(model, self.state)
        for decision in plan.decisions:
            sim.desired = decision.desired_replicas
        ports = ClusterPorts(sim.cluster, obs.now, warm=warm)
        drive(execute(plan, Ports(ports, ports, {p.name: p for p in self.pools})))
        if self.record:
            self.calls.append(ports.log)

    def _forecasts(self, now: float) -> tuple[Forecast, ...]:
        assert self.forecaster is not None and self.history is not None
        if now - self.forecast_at >= FORECAST_EVERY_S:
            refit = now - self.fitted_at >= self.refit_s
            if refit:
                self.fitted_at = now
            # the median too: the floor's quantile of a window mean is built from it (core/forecast.py)
            q = tuple(sorted({0.5, self.spec.prescale.quantile}))
            self.forecast = _ask(
                self.forecaster, self.shared, self.history, now, self.fitted_at, refit, self.horizon_s, q
            )
            if self.token_forecaster is not None and self.token_history is not None:
                # as the prescaler publishes it: token columns beside the request columns
                tokens = _ask(
                    self.token_forecaster, self.token_shared, self.token_history, now, self.fitted_at,
                    refit, self.horizon_s, q,
                )  # fmt: skip
                self.forecast = with_tokens(self.forecast, tokens)
            self.forecast_at = now
        return (self.forecast,) if self.forecast is not None else ()


def _ask(
    forecaster: Forecaster, shared: SharedForecasts | None, history: RateSeries, now: float,
    fitted_at: float, refit: bool, horizon_s: float, q: tuple[float, ...],
) -> Forecast | None:  # fmt: skip
    """The forecast at ``now``: from the shared answers, or made here (fitted when ``refit``)."""
    if shared is not None:
        return shared.forecast(now, fitted_at, horizon_s, q)
    past = history.until(now)
    if refit:
        forecaster.fit(past)
    return forecaster.forecast(past, now, horizon_s, q)


def minute_history(demand: np.ndarray, start: float) -> RateSeries:
    """Per-minute request rate; the forecaster sees ``.until(now)`` of it only."""
    step = int(HISTORY_STEP_S)
    n = len(demand) // step * step
    values = demand[:n].reshape(-1, step).mean(axis=1) if n else np.empty(0)
    return RateSeries(start, HISTORY_STEP_S, values)


class HpaPolicy(CorePolicy):
    """The core's ``hpa`` policy for replicas; nodes follow pending pods, cheapest first."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__("hpa", scenario, None, math.inf)
        # Kubernetes' defaults whatever the scenario's policy says: tolerance 0.1, scale-up
        # max(100 %, 4 pods) per 15 s, scale-down window 300 s; same RPS target and bounds.
        self.spec = self.spec.model_copy(
            update={
                "policy": "hpa",
                "tolerance": 0.1,
                "scale_up": hpa_default_scale_up(),
                "scale_down": hpa_default_scale_down(),
            }
        )
        self.order = cheapest_first(scenario, spot=False)
        self.unneeded_since: dict[str, float] = {}

    def _act(self, sim: Simulation, obs: Observation, *, warm: bool) -> None:
        decision, self.state = decide(obs, self.spec, self.pools, self.state)
        sim.desired = decision.desired_replicas
        for pool, replicas in spread(sim.scenario, self.order, decision.desired_replicas):
            name = pool.name
            sim.cluster.set_replicas(name, replicas, obs.now, warm=warm)
            needed = math.ceil(replicas / sim.scenario.replicas_per_node(pool))
            healthy = len(sim.cluster.pools[name].healthy(obs.now))
            if needed >= healthy:
                self.unneeded_since.pop(name, None)
                if needed > healthy:
                    sim.cluster.set_nodes(name, needed, obs.now, warm=warm)
                    sim.cluster.place(name, obs.now, warm=warm)
            elif obs.now - self.unneeded_since.setdefault(name, obs.now) >= CA_UNNEEDED_S:
                sim.cluster.set_nodes(name, needed, obs.now)
                self.unneeded_since.pop(name, None)


def spread(
    scenario: Scenario, order: Sequence[PoolScenario], replicas: int
) -> list[tuple[PoolScenario, int]]:
    """Replicas per pool, filling pools in ``order`` (reservations only up to their size)."""
    out = []
    for pool in order:
        nodes = pool.reservation_nodes if pool.capacity_type == "reserved" else pool.max_nodes
        take = min(replicas, nodes * scenario.replicas_per_node(pool))
        out.append((pool, take))
        replicas -= take
    return out


class StaticPolicy:
    """The trace's peak need, on reservations and on-demand, ready from the start."""

    def __init__(self, scenario: Scenario, peak: int) -> None:
        self.name = "static"
        self.plan = spread(scenario, cheapest_first(scenario, spot=False), peak)

    def start(self, sim: Simulation) -> None:
        sim.desired = sum(r for _, r in self.plan)
        for pool, replicas in self.plan:
            sim.cluster.set_nodes(
                pool.name, math.ceil(replicas / sim.scenario.replicas_per_node(pool)), sim.start, warm=True
            )
            sim.cluster.set_replicas(pool.name, replicas, sim.start, warm=True)

    def tick(self, sim: Simulation, obs: Observation) -> None:
        return None
