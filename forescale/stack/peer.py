"""``hpa-karpenter`` replayed on the live run's demand: what the reference user's setup
(HPA v2 on request rate, Karpenter nodes, spot first) would have done in the demo.

It gets exactly what the forescale replay gets (``replay.scenario``: the demand as sent,
the same pools, launch delays, spot outage, worker start and tick) and starts from the
same placement. Kubernetes' and Karpenter's durations are real-cluster seconds, while the
demo runs its control plane in demo seconds; they are scaled by one factor, the ratio of
the demo policy's unavailable-pool TTL to Karpenter's 180 s unavailable-offerings cache
(10 / 180 = 1/18 by default): HPA's 15 s scale-up period and 300 s scale-down window,
Karpenter's 180 s cache and 60 s consolidation delay all shrink alike. Without that the
peer would hold 300 demo seconds of scale-down window, longer than the whole day, and
look safe and expensive for a reason no real cluster has.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forescale.core.model import PolicyState, ScalingBehavior, ScalingRule
from forescale.sim.engine import Run, Simulation
from forescale.sim.metrics import summarize
from forescale.sim.peers.karpenter import CONSOLIDATE_AFTER_S, UNAVAILABLE_TTL_S
from forescale.sim.peers.reactive import HpaKarpenter
from forescale.sim.scenario import Scenario
from forescale.stack.replay import SLO_QUEUEING, simulate

NAME = "hpa-karpenter"


def time_scale(scen: Scenario) -> float:
    """Demo seconds per real-cluster second (1/18 with the demo's policy)."""
    return scen.policy.unavailable_pool_ttl_s / UNAVAILABLE_TTL_S


def _scaled(b: ScalingBehavior, k: float) -> ScalingBehavior:
    rules = tuple(ScalingRule(type=r.type, value=r.value, period_s=r.period_s * k) for r in b.rules)
    return b.model_copy(update={"stabilization_window_s": b.stabilization_window_s * k, "rules": rules})


class DemoHpaKarpenter(HpaKarpenter):
    """The simulator's ``hpa-karpenter`` with its durations in demo seconds, started from
    the live run's placement (as ``ReplayPolicy`` is) instead of a warm guess."""

    def __init__(self, scen: Scenario, initial: dict[str, int]) -> None:
        super().__init__(scen)
        k = time_scale(scen)
        self.spec = self.spec.model_copy(
            update={
                "scale_up": _scaled(self.spec.scale_up, k),
                "scale_down": _scaled(self.spec.scale_down, k),
            }
        )
        self.nodes.consolidate_after_s = CONSOLIDATE_AFTER_S * k
        self.nodes.unavailable_ttl_s = UNAVAILABLE_TTL_S * k
        self.initial = initial

    def start(self, sim: Simulation) -> None:
        warm = sum(self.initial.values())
        sim.desired = warm
        self.state = PolicyState(last_at=sim.start, last_desired=warm, down_history=((sim.start, warm),))
        # Karpenter places the pods cheapest first: the reservation, as the live run had.
        self.nodes.reconcile(sim, warm, sim.start, warm=True)


def replay_peer(
    scen: Scenario, demand: np.ndarray, t0: float, initial: dict[str, int]
) -> tuple[Run, dict[str, Any]]:
    """The peer's run and its summary, judged like the forescale replay (``SLO_QUEUEING``)."""
    run = simulate(scen, demand, t0, DemoHpaKarpenter(scen, initial))
    return run, summarize(scen, demand, run, queueing=SLO_QUEUEING)


def figures(run: Run, summary: dict[str, Any], n: int, compression: float) -> dict[str, Any]:
    """The peer's figures for the demo's JSON line (costs in USD of the replayed day)."""
    return {
        "hpa_karpenter_slo_attainment": round(float(summary["slo_attainment"]), 4),
        "hpa_karpenter_cost": round(float(summary["cost_usd"]) * compression, 2),
        "hpa_karpenter_replica_seconds": float(run.ready[:n].sum()),
        "hpa_karpenter_p99_latency_s": summary.get("p99_latency_s"),
    }
