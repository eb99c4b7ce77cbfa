"""The demo's scenario, pure: a day of demand squeezed into the demo's minutes, the
model, the pools, the policy, the announced event and the spot outage.

Every duration a real cluster measures in minutes (node launch, stabilization windows,
pool-unavailable TTL) is set here in *demo* seconds, so that one compressed day shows
each behaviour: one demo hour is ``load_s / 24`` seconds (8.3 s for the default 200 s).
The simulator replays the same numbers (``replay.py``), which is what makes the live run
and the simulation comparable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from forescale.core.model import (
    PolicySpec,
    PoolSpec,
    PrescaleSpec,
    ScalingBehavior,
    ScalingRule,
    hpa_default_scale_down,
    hpa_default_scale_up,
)
from forescale.prescaler.external import ExternalForecast, ExternalWindow
from forescale.queue.config import ModelConfig
from forescale.traces import Trace
from forescale.traces.synthetic import DAY_S, Workload, rate_curve

MODEL = "chat"


@dataclass(frozen=True)
class Window:
    """``[start_h, end_h)`` in hours of the compressed day."""

    start_h: float
    end_h: float

    def seconds(self, load_s: float) -> tuple[float, float]:
        return self.start_h * load_s / 24, self.end_h * load_s / 24


@dataclass(frozen=True)
class DemoPlan:
    load_s: float = 200.0  # wall seconds of load: the whole compressed day
    mean_rps: float = 10.0
    service_s: float = 0.25  # sleep engine, one request per batch: 4 req/s per replica
    slo_s: float = 1.5
    interval_s: float = 1.0  # controller tick
    event: Window = Window(18.0, 19.5)  # scheduled, announced through the webhook
    event_factor: float = 1.8
    burst: Window = Window(9.0, 10.0)  # unannounced
    burst_factor: float = 2.0
    outage: Window = Window(13.0, 16.0)  # spot-a has no capacity: notices, fallback, return
    outage_pool: str = "spot-a"
    notice_s: float = 3.0  # spot interruption notice (AWS: 2 min)
    seed: int = 7

    @property
    def capacity_rps(self) -> float:
        return 1.0 / self.service_s

    @property
    def compression(self) -> float:
        """Real seconds of the day per demo second."""
        return DAY_S / self.load_s


def model_config() -> ModelConfig:
    plan = DemoPlan()
    return ModelConfig(
        name=MODEL,
        engine="sleep",
        engine_options={"base_ms": plan.service_s * 1000, "dist": "constant"},
        max_batch=1,
        max_wait_ms=0,
        queue_limit=300,
        default_timeout_s=15,
    )


def pools() -> tuple[PoolSpec, ...]:
    """A small reservation, two spot pools in two zones, on-demand; one GPU per node."""
    return (
        PoolSpec(
            name="reserved-a",
            capacity_type="reserved",
            price_per_node_hour=2.5,
            max_nodes=2,
            reservation_nodes=2,
            lead_time_s=4,
        ),
        PoolSpec(name="spot-a", capacity_type="spot", price_per_node_hour=1.1, max_nodes=4, lead_time_s=8),
        PoolSpec(
            name="spot-b",
            capacity_type="spot",
            price_per_node_hour=1.3,
            max_nodes=4,
            zone="zone-b",
            lead_time_s=8,
        ),
        PoolSpec(
            name="on-demand", capacity_type="on-demand", price_per_node_hour=3.9, max_nodes=12, lead_time_s=6
        ),
    )


# Demo seconds per real-cluster second for the Kubernetes durations in the policy: the
# pool-unavailable TTL (10 demo s) over Karpenter's and the policy default's 180 s. The
# hpa-karpenter replay scales its defaults by the same factor (stack/peer.py).
UNAVAILABLE_TTL_S = 10.0
K8S_TIME_SCALE = UNAVAILABLE_TTL_S / 180.0


def scaled(b: ScalingBehavior, k: float) -> ScalingBehavior:
    """``b`` with its window and rule periods multiplied by ``k``."""
    rules = tuple(ScalingRule(type=r.type, value=r.value, period_s=r.period_s * k) for r in b.rules)
    return b.model_copy(update={"stabilization_window_s": b.stabilization_window_s * k, "rules": rules})


def policy(plan: DemoPlan) -> PolicySpec:
    """The full policy with its windows scaled to demo seconds.

    Scale-up and scale-down are the policy's defaults (Kubernetes' HPA defaults: max(100 %,
    4 pods) per 15 s; a 300 s window, 100 % per 15 s) scaled by ``K8S_TIME_SCALE``, the
    factor the hpa-karpenter replay gets, so the two differ in what forescale adds, not in
    rate rules (it once had 2 s periods where HPA had 0.83 s, and a 12 s window with 50 %
    per 4 s where HPA had 16.7 s and 100 % per 0.83 s). ``service_rps_per_replica``: the
    sleep engine's exact rate, so the forecast floor's margin is its quantile and headroom
    (without it the floor also divides by the 70 % target: 10 replicas for the announced
    23.4 req/s, 40 req/s of capacity) and a backlog is projected to drain at that rate.
    """
    return PolicySpec(
        model=MODEL,
        min_replicas=2,
        max_replicas=12,
        target_rps_per_replica=0.7 * plan.capacity_rps,
        latency_slo_s=plan.slo_s,
        scale_up=scaled(hpa_default_scale_up(), K8S_TIME_SCALE),
        scale_down=scaled(hpa_default_scale_down(), K8S_TIME_SCALE),
        stable_window_s=8,
        panic_window_s=3,
        prescale=PrescaleSpec(
            quantile=0.9, headroom=0.1, max_forecast_age_s=30, service_rps_per_replica=plan.capacity_rps
        ),
        spot_fallback_timeout_s=20,
        unavailable_pool_ttl_s=UNAVAILABLE_TTL_S,
        pools=tuple(p.name for p in pools()),  # not the chat leg's (stack/chat.py)
    )


def synthetic_demand(plan: DemoPlan) -> np.ndarray:
    """Req/s per demo second: a daily cycle (sim team's generator), the event, the burst."""
    day = rate_curve(
        DAY_S,
        Workload(
            mean_rps=plan.mean_rps,
            daily_amplitude=0.5,
            peak_hour=14,
            weekly_dip=1.0,
            bursts_per_day=0,
            noise=0.05,
        ),
        seed=plan.seed,
    )
    rates = squeeze(day, int(plan.load_s))
    for window, factor in ((plan.event, plan.event_factor), (plan.burst, plan.burst_factor)):
        a, b = window.seconds(plan.load_s)
        rates[int(a) : int(b)] *= factor
    return rates


def squeeze(values: np.ndarray, n: int) -> np.ndarray:
    """Mean of ``values`` over ``n`` equal bins (a day of seconds -> n demo seconds)."""
    edges = np.linspace(0, len(values), n + 1).astype(int)
    sums = np.add.reduceat(values, edges[:-1])
    return sums / np.maximum(np.diff(edges), 1)


def trace_demand(trace: Trace, plan: DemoPlan) -> np.ndarray:
    """A real trace's shape, squeezed into the demo and scaled to the demo's mean rate."""
    step = max(trace.duration_s / plan.load_s, 1e-6)
    values = np.nan_to_num(trace.rate_series(step).values.astype(float))[: int(plan.load_s)]
    if len(values) < int(plan.load_s):
        values = np.pad(values, (0, int(plan.load_s) - len(values)))
    mean = float(values.mean())
    return values * (plan.mean_rps / mean) if mean > 0 else values


def announced(plan: DemoPlan, t0: float) -> ExternalForecast:
    """The scheduled event as the marketing team posts it: an absolute rate for its window."""
    a, b = plan.event.seconds(plan.load_s)
    expected = plan.event_factor * plan.mean_rps * 1.3
    return ExternalForecast(
        id="demo-event",
        model=MODEL,
        source="marketing",
        windows=(ExternalWindow(start=t0 + a, end=t0 + b, rps=expected),),
    )


def outage_seconds(plan: DemoPlan) -> tuple[float, float]:
    a, b = plan.outage.seconds(plan.load_s)
    return math.floor(a), math.floor(b)
