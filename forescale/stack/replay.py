"""The live run replayed through the simulator, and how closely the two agree.

The simulator gets what the live run had: the demand actually sent (per second), the
same pools (launch delay = the local provider's lead time), the same spot outage (as a
one-second availability trace), the same policy and controller tick, the same announced
event (turned into forecasts by the prescaler's own ``to_forecast``), the per-replica
service rate of the sleep engine and the worker start time measured live. It starts
where the live run started (the replicas ready when the load began).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from forescale.core.model import Forecast, Observation, PolicySpec, PoolSpec
from forescale.loadgen.runner import Outcome
from forescale.prescaler.external import ExternalForecast, cap, to_forecast
from forescale.sim.engine import Run, SimPolicy, Simulation
from forescale.sim.metrics import Queueing, summarize
from forescale.sim.policies import CorePolicy
from forescale.sim.scenario import (
    AvailabilityTrace,
    LaunchDelay,
    ModelScenario,
    PoolScenario,
    Scenario,
    Slo,
    SpotBehaviour,
)
from forescale.stack.scenario import MODEL, DemoPlan, outage_seconds

FORECAST_STEP_S = 2.0  # the prescaler's step_s and publish period in the demo (run.py)
FORECAST_HORIZON_S = 12.0  # its lead_time_s (10) + publish period
SLO_QUEUEING: Queueing = "timed"  # how the simulator judges the SLO for the headline figure


class ReplayPolicy(CorePolicy):
    """The core policy, started from the live run's placement, fed the announced event."""

    def __init__(self, scenario: Scenario, initial: dict[str, int], event: ExternalForecast | None) -> None:
        super().__init__("forescale", scenario, None, math.inf)
        self.initial = initial
        self.event = event

    def start(self, sim: Simulation) -> None:
        for pool, replicas in self.initial.items():
            sim.cluster.set_nodes(pool, replicas, sim.start, warm=True)
            sim.cluster.set_replicas(pool, replicas, sim.start, warm=True)
        sim.desired = sum(self.initial.values())

    def tick(self, sim: Simulation, obs: Observation) -> None:
        super().tick(sim, obs.model_copy(update={"forecasts": self.forecasts(obs.now)}))

    def forecasts(self, now: float) -> tuple[Forecast, ...]:
        if self.event is None or not self.event.active(now):
            return ()
        fc = to_forecast(self.event, None, now, FORECAST_HORIZON_S, FORECAST_STEP_S, (0.5, 0.9))
        spec = self.spec
        return () if fc is None else (cap(fc, spec.max_replicas * spec.target_rps_per_replica),)


def history_s(spec: PolicySpec) -> int:
    """Seconds of idle history the replay starts with: the longest window the policy
    reads (rates, scale-down stabilization)."""
    windows = (spec.stable_window_s, spec.panic_window_s, spec.scale_down.stabilization_window_s)
    return math.ceil(max(windows))


def scenario(
    plan: DemoPlan, pools: Sequence[PoolSpec], spec: PolicySpec, load_time_s: float, availability: Path,
    phase_s: float = 0.0,
) -> Scenario:  # fmt: skip
    """The demo as a simulator scenario; ``availability`` gets the outage pool's trace
    (on the replay's time axis: ``history_s`` idle seconds, then the load).

    ``phase_s``: how far into each second the live controller ticked (``tick_phase``). The
    simulator decides on whole seconds from the same whole-second windows; live, the same
    decision acts ``phase_s`` later, so its nodes launch that much later. (Notices and
    worker starts are the local cluster's own, between ticks, as in the simulator.)"""
    pad = history_s(spec)
    n = pad + int(plan.load_s) + 60
    a, b = outage_seconds(plan)  # the whole seconds the live run staged it at (run.py)
    data = [0 if a + pad <= i < b + pad else 1 for i in range(n)]
    availability.write_text(json.dumps({"metadata": {"gap_seconds": 1}, "data": data}))
    out = []
    for p in pools:
        spot = None
        if p.capacity_type == "spot":
            trace = AvailabilityTrace(path=str(availability)) if p.name == plan.outage_pool else None
            spot = SpotBehaviour(notice_s=plan.notice_s, availability=trace)
        out.append(
            PoolScenario(
                name=p.name,
                capacity_type=p.capacity_type,
                price_per_node_hour=p.price_per_node_hour,
                gpus_per_node=p.gpus_per_node,
                max_nodes=p.max_nodes,
                reservation_nodes=p.reservation_nodes,
                zone=p.zone,
                launch_delay=LaunchDelay(kind="fixed", low_s=p.lead_time_s + phase_s),
                spot=spot,
            )
        )
    model = ModelScenario(
        name=MODEL,
        service_rate_rps=plan.capacity_rps,
        service_time_s=plan.service_s,
        load_time_s=load_time_s,
        queue_limit=300,
    )
    return Scenario(
        name="demo",
        seed=plan.seed,
        tick_s=plan.interval_s,
        slo=Slo(latency_s=plan.slo_s),
        model=model,
        pools=tuple(out),
        policy=spec,
    )


def demand_per_second(outcomes: Sequence[Outcome], n: int) -> np.ndarray:
    """Arrivals per second as sent (dropped ones included: they are demand)."""
    at = np.array([o.at for o in outcomes], dtype=float)
    return (
        np.bincount(np.clip(at.astype(int), 0, n - 1), minlength=n)[:n].astype(float)
        if len(at)
        else np.zeros(n)
    )


def live_slo(outcomes: Sequence[Outcome], slo_s: float) -> float:
    """Share of all arrivals answered 2xx within the SLO (drops and errors are misses)."""
    if not outcomes:
        return 1.0
    return sum(1 for o in outcomes if o.ok and o.latency_s <= slo_s) / len(outcomes)


def per_second(samples: Sequence[dict[str, Any]], key: str, n: int) -> np.ndarray:
    """The newest sample at or before each whole second (0 before the first)."""
    t = np.array([s["t"] for s in samples], dtype=float)
    v = np.array([s[key] for s in samples], dtype=float)
    idx = np.searchsorted(t, np.arange(n) + 0.999, side="right") - 1
    return np.where(idx >= 0, v[np.maximum(idx, 0)], 0.0)


def live_cost(samples: Sequence[dict[str, Any]], n: int, compression: float) -> float:
    """USD of the replayed day: cost per hour held each demo second, times the compression."""
    return float(per_second(samples, "cost_per_hour", n).sum() / 3600.0 * compression)


def worker_start_s(starts: Sequence[tuple[float, float]], fallback: float) -> float:
    """Mean seconds from a worker process's start to its first ready heartbeat, over the
    workers started during the load (``Recorder.starts``): what the simulator calls model
    load time (the local cluster starts a worker within 0.1 s of its node being ready).

    Measured per worker: the earlier estimate (Little's law between the controller's node
    gauge and ready replicas) read the node gauge a tick late and came out at 1.1 s where
    the workers took 1-3.5 s (four starting at once on two busy cores take longer than
    one), which put the simulator's replicas up to 2 s ahead of live in the burst and the
    outage, 2-3 pp of SLO attainment."""
    took = [ready - began for began, ready in starts if ready >= began]
    return float(np.mean(took)) if len(took) >= 3 else fallback


def tick_phase(samples: Sequence[dict[str, Any]], t0: float, interval_s: float) -> float:
    """Where in its interval the live controller ticked, from the load start (circular mean
    of the decisions' times: the controller ticks on its interval's epoch grid, so this is
    one number per run, set by where the load started on that grid)."""
    at = np.array([s["decided_at"] - t0 for s in samples if s.get("decided_at")], dtype=float)
    if len(at) == 0 or interval_s <= 0:
        return 0.0
    angle = float(np.angle(np.exp(2j * np.pi * at / interval_s).mean()))
    return (angle / (2 * np.pi)) % 1 * interval_s


def correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    m = min(len(a), len(b))
    if m < 3 or np.std(a[:m]) == 0 or np.std(b[:m]) == 0:
        return None
    return float(np.corrcoef(a[:m], b[:m])[0, 1])


def simulate(scen: Scenario, demand: np.ndarray, t0: float, policy: SimPolicy) -> Run:
    """``policy`` replayed on ``demand`` (per second from ``t0``), the way the live run saw it.

    Live, the stack idled before the load (the warm-up): the controller's rate windows
    held whole seconds of no arrivals, and a window is its sum over its full length
    (``controller/signals/direct.py``). The simulator alone averages over the seconds since
    its start, and at its first tick sees that second's own demand, so its early rates
    ran high (measured: a third replica decided at t=3 that live decided at t=25). The
    replay therefore starts ``history_s`` idle seconds before ``t0`` and drops them from
    the run it returns (costs and arrays from ``t0`` on)."""
    pad = history_s(scen.policy)
    raw = Simulation(scen, np.concatenate([np.zeros(pad), demand]), t0 - pad).run(policy)
    k = next((i for i, t in enumerate(raw.tick_t) if t >= pad), len(raw.tick_t))
    base = raw.tick_cost[k - 1] if k > 0 else 0.0
    return replace(
        raw,
        ready=raw.ready[pad:],
        served=raw.served[pad:],
        dropped=raw.dropped[pad:],
        tick_t=[t - pad for t in raw.tick_t[k:]],
        tick_cost=[c - base for c in raw.tick_cost[k:]],
        tick_desired=raw.tick_desired[k:],
        cost_usd=raw.cost_usd - base,
        # Idle seconds hold the starting placement (reserved, one GPU per node in the demo).
        gpu_s=raw.gpu_s - float(raw.ready[:pad].sum()),
    )


def replay(
    plan: DemoPlan,
    scen: Scenario,
    demand: np.ndarray,
    t0: float,
    initial: dict[str, int],
    event: ExternalForecast | None,
) -> tuple[Run, dict[str, Any]]:
    """The simulator's run and summary. SLO attainment is judged per request against its
    own arrival time (``queueing="timed"``, as the live run judges each request); the
    whole-second figure (the simulator's default) and the M/D/c one go beside it."""
    run = simulate(scen, demand, t0, ReplayPolicy(scen, initial, event))
    extra = {
        f"slo_attainment_{mode}": summarize(scen, demand, run, queueing=mode)["slo_attainment"]
        for mode in ("fluid", "mdc")
    }
    return run, summarize(scen, demand, run, queueing=SLO_QUEUEING) | extra


def fidelity(
    plan: DemoPlan,
    samples: Sequence[dict[str, Any]],
    outcomes: Sequence[Outcome],
    run: Run,
    sim: dict[str, Any],
    n: int,
) -> dict[str, Any]:
    ready = per_second(samples, "ready", n)
    desired = per_second(samples, "desired", n)
    sim_desired = np.repeat(np.array(run.tick_desired, dtype=float), int(plan.interval_s))[:n]
    live = live_slo(outcomes, plan.slo_s)
    cost_live = live_cost(samples, n, plan.compression)
    cost_sim = float(sim["cost_usd"]) * plan.compression
    return {
        "replica_correlation": correlation(ready, run.ready[:n]),
        "desired_correlation": correlation(desired, sim_desired),
        "slo_attainment_live": round(live, 4),
        "slo_attainment_sim": round(float(sim["slo_attainment"]), 4),
        "slo_gap_pp": round(100 * (live - float(sim["slo_attainment"])), 2),
        "slo_attainment_sim_fluid": _round(sim.get("slo_attainment_fluid")),
        "slo_attainment_sim_mdc": _round(sim.get("slo_attainment_mdc")),
        "cost_live": round(cost_live, 2),
        "cost_sim": round(cost_sim, 2),
        "cost_gap": round((cost_live - cost_sim) / cost_sim, 4) if cost_sim > 0 else None,
        "replica_seconds_live": float(ready.sum()),
        "replica_seconds_sim": float(run.ready[:n].sum()),
    }


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)
