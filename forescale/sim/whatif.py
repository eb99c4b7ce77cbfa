"""What if this policy had been in force? Replay recorded demand under two policies.

The admin API's ``PUT /v1/policies/{model}?dry_run=true`` calls ``what_if`` with the
stored (current) policy, the proposed one, the pool catalog and the demand recorded over
the last hours, and answers with each policy's cost, SLO attainment and peak replicas.

Both runs use the simulator's engine exactly as ``forescale simulate`` does
(``Simulation`` + ``CorePolicy`` + ``metrics.summarize``), on a scenario derived from
the live configuration:

- pools: the catalog's ``PoolSpec``s the policy may use (``spec.pools``, and only pools
  whose nodes fit a replica), each with a fixed launch delay equal to its
  ``lead_time_s`` and no spot preemptions (the what-if compares policies, not luck);
- model: one replica serves ``service_rate_rps`` requests per second (the API passes the
  *current* policy's ``target_rps_per_replica``, the operator's measured figure, so a
  proposal that changes the target is judged against the current belief, not itself);
- SLO: the same latency objective for both runs (the proposed policy's), so attainment
  is comparable.

A replay says nothing about a policy when the history is shorter than the times that
shape its decisions: a node asked for at the first second arrives after the pool's lead
time, and a scale-down waits out the stabilisation window. So the answer states how much
history it replayed and what it needed; shorter than the longest of those times is
refused (``ShortHistory``, a ``ValueError``: the API answers with a note instead of
figures), and shorter than ``WARN_FACTOR`` times it carries a warning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

from forescale.core.model import PolicySpec, PoolSpec
from forescale.prescaler.base import RateSeries
from forescale.sim.engine import Simulation
from forescale.sim.metrics import summarize
from forescale.sim.policies import CorePolicy
from forescale.sim.scenario import Scenario

REFIT_S = 3600.0
WARN_FACTOR = 3.0  # below this many of the longest lead time/window: figures with a warning


class ShortHistory(ValueError):
    """Less recorded demand than the longest lead time or window of the policies compared."""


class ReplayOutcome(BaseModel):
    """One policy's replay of the recorded demand."""

    policy: str = Field(description="Registered policy name the run used.")
    cost_usd: float = Field(description="Node cost over the replayed window, USD.")
    slo_attainment: float = Field(description="Fraction of requests served within the SLO.")
    peak_replicas: int = Field(description="Most ready replicas at any second.")
    peak_desired_replicas: int = Field(description="Most replicas the policy asked for at a tick.")
    mean_replicas: float = Field(description="Ready replicas averaged over the window.")
    dropped: int = Field(description="Requests dropped at the queue limit.")
    p99_latency_s: float | None = Field(description="p99 latency; null when some request is never served.")


class WhatIf(BaseModel):
    """The predicted effect of replacing ``current`` by ``proposed`` on recorded demand."""

    start: float = Field(description="First replayed second, epoch s.")
    duration_s: int = Field(description="Seconds replayed.")
    requests: int = Field(description="Requests in the replayed demand.")
    service_rate_rps: float = Field(description="Requests per second one simulated replica serves.")
    slo_s: float = Field(description="Latency objective both runs are judged by.")
    history_step_s: float = Field(description="Step of the recorded demand (1 s counters, or coarser).")
    needed_s: float = Field(description="Longest lead time or window of the policies compared.")
    needed_for: str = Field(description="What `needed_s` is (a pool's lead time, a window).")
    warning: str | None = Field(
        default=None, description="Set when the history is short against `needed_s`: read with care."
    )
    current: ReplayOutcome | None = Field(description="Under the stored policy; null when none.")
    proposed: ReplayOutcome


def longest_wait(specs: Sequence[PolicySpec], pools: Sequence[PoolSpec]) -> tuple[float, str]:
    """(seconds, what): the longest pool lead time or decision window of ``specs``."""
    candidates: list[tuple[float, str]] = []
    for spec in specs:
        for p in pools:
            if (not spec.pools or p.name in spec.pools) and p.gpus_per_node >= spec.gpus_per_replica:
                candidates.append((p.lead_time_s, f"the lead time of pool {p.name}"))
        candidates += [
            (spec.stable_window_s, "the stable window (stable_window_s)"),
            (spec.scale_up.stabilization_window_s, "the scale-up stabilisation window"),
            (spec.scale_down.stabilization_window_s, "the scale-down stabilisation window"),
        ]
    return max(candidates, key=lambda c: c[0], default=(0.0, "nothing"))


def duration_text(seconds: float) -> str:
    """``22 s``, ``4.0 min``, ``3.5 h``: what a person reads at a glance."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def per_second(demand: RateSeries) -> np.ndarray:
    """Requests arriving in each second (NaN gaps count as no traffic)."""
    values = np.nan_to_num(np.asarray(demand.values, dtype=float))
    step = demand.step_s
    if step == 1:
        return values
    if step < 1 or step != int(step):
        raise ValueError(f"demand step {step} s: expected 1 s or a whole number of seconds")
    return np.repeat(values, int(step))


def scenario_for(
    spec: PolicySpec,
    pools: Sequence[PoolSpec],
    *,
    service_rate_rps: float,
    slo_s: float,
    tick_s: float = 15.0,
    queue_limit: int | None = None,
) -> Scenario:
    """The scenario a what-if run uses; ValueError when no pool of the catalog fits."""
    usable = [
        p for p in pools
        if (not spec.pools or p.name in spec.pools) and p.gpus_per_node >= spec.gpus_per_replica
    ]  # fmt: skip
    if not usable:
        raise ValueError(f"no pool in the catalog can host {spec.model} (pools, gpus_per_node)")
    return Scenario.model_validate(
        {
            "name": f"what-if-{spec.model}",
            "tick_s": tick_s,
            "slo": {"latency_s": slo_s},
            "model": {
                "name": spec.model,
                "service_rate_rps": service_rate_rps,
                "load_time_s": 0,
                "gpus_per_replica": spec.gpus_per_replica,
                "queue_limit": queue_limit,
            },
            "pools": [_pool(p) for p in usable],
            "policy": spec.model_dump(),
        }
    )


def _pool(p: PoolSpec) -> dict[str, object]:
    return {
        **p.model_dump(exclude={"lead_time_s"}),
        "launch_delay": {"kind": "fixed", "low_s": p.lead_time_s},
    }


def replay(scenario: Scenario, demand: np.ndarray, start: float, forecaster: str | None) -> ReplayOutcome:
    run = Simulation(scenario, demand, start).run(
        CorePolicy(scenario.policy.policy, scenario, forecaster or None, REFIT_S)
    )
    row = summarize(scenario, demand, run)
    p99 = row["p99_latency_s"]
    return ReplayOutcome(
        policy=scenario.policy.policy,
        cost_usd=float(row["cost_usd"] or 0.0),
        slo_attainment=float(row["slo_attainment"] or 0.0),
        peak_replicas=int(run.ready.max()) if len(run.ready) else 0,
        peak_desired_replicas=max(run.tick_desired, default=0),
        mean_replicas=float(run.ready.mean()) if len(run.ready) else 0.0,
        dropped=int(row["dropped"] or 0),
        p99_latency_s=None if p99 is None or not math.isfinite(p99) else float(p99),
    )


def what_if(
    current: PolicySpec | None,
    proposed: PolicySpec,
    pools: Sequence[PoolSpec],
    demand: RateSeries,
    *,
    tick_s: float = 15.0,
    queue_limit: int | None = None,
    forecaster: str | None = "seasonal-naive",
) -> WhatIf:
    """Replay ``demand`` under ``current`` (when given) and ``proposed``; pure and deterministic."""
    per_s = per_second(demand)
    rate = (current or proposed).target_rps_per_replica
    slo_s = proposed.latency_slo_s
    needed, what = longest_wait([s for s in (current, proposed) if s is not None], pools)
    have = duration_text(len(per_s))
    if len(per_s) < needed:
        raise ShortHistory(
            f"refused: only {have} of recorded demand (step {demand.step_s:g} s), shorter than "
            f"{what} ({duration_text(needed)}); no decision would play out. Let traffic run "
            f"longer, or raise the routers' and prescaler's history"
        )
    warning = None
    if len(per_s) < WARN_FACTOR * needed:
        warning = (
            f"only {have} of recorded demand, less than {WARN_FACTOR:g} x {what} "
            f"({duration_text(needed)}): the figures cover few scaling decisions"
        )

    def run(spec: PolicySpec) -> ReplayOutcome:
        scen = scenario_for(
            spec, pools, service_rate_rps=rate, slo_s=slo_s, tick_s=tick_s, queue_limit=queue_limit
        )
        return replay(scen, per_s, demand.start, forecaster)

    return WhatIf(
        start=demand.start,
        duration_s=len(per_s),
        requests=round(float(per_s.sum())),
        service_rate_rps=rate,
        slo_s=slo_s,
        history_step_s=demand.step_s,
        needed_s=needed,
        needed_for=what,
        warning=warning,
        current=run(current) if current is not None else None,
        proposed=run(proposed),
    )
