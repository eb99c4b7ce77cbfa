"""The reactive peers users actually run: ``hpa-karpenter`` and ``keda-queue``.

Both scale replicas with Kubernetes' HPA v2 and its defaults (tolerance 0.1, scale-up
max(100 %, 4 pods) per 15 s, no scale-up window, 300 s scale-down window), computed by
the core's ``hpa`` policy so the arithmetic is the one forescale's own reactive term
uses; nodes come from ``KarpenterNodes`` (spot first, on-demand fallback, consolidation).

- ``hpa-karpenter`` scales on the request rate against ``target`` req/s per replica
  (default: the scenario's ``target_rps_per_replica``, the same metric and target
  forescale's reactive term uses).
- ``keda-queue`` scales on requests *waiting* (the backlog, not those in service) per
  replica, HPA ``AverageValue`` style: ``ceil(waiting / target)`` (default target 2 per
  replica), as KEDA ScaledObjects on ``vllm:num_requests_waiting`` do. The HPA arithmetic
  is reused by handing it ``waiting x (rps target / waiting target)`` as the "rate".
  Waiting alone is zero whenever capacity keeps up, so HPA's recommendation falls to
  ``min_replicas`` and only the 300 s scale-down window holds capacity: the sawtooth such
  setups show. ``keda-concurrency`` scales on waiting + running per replica instead
  (default target: the RPS target x the service time, Little's law).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from forescale.core.model import (
    Observation,
    PolicySpec,
    PolicyState,
    hpa_default_scale_down,
    hpa_default_scale_up,
)
from forescale.core.policy import decide
from forescale.sim.peers.karpenter import KarpenterNodes
from forescale.sim.scenario import Scenario

if TYPE_CHECKING:
    from forescale.sim.engine import Simulation

WARM_S = 300  # warm start: sized for the first 5 minutes' mean demand, like CorePolicy
KEDA_DEFAULT_WAITING = 2.0


def k8s_hpa_spec(spec: PolicySpec, target_rps: float) -> PolicySpec:
    """The scenario's bounds with Kubernetes' HPA defaults and an RPS target."""
    return spec.model_copy(
        update={
            "policy": "hpa",
            "target_rps_per_replica": target_rps,
            "tolerance": 0.1,
            "scale_up": hpa_default_scale_up(),
            "scale_down": hpa_default_scale_down(),
        }
    )


class ReactivePeer:
    """HPA v2 replicas on one metric, Karpenter nodes."""

    def __init__(self, name: str, scenario: Scenario, target_rps: float) -> None:
        self.name = name
        self.spec = k8s_hpa_spec(scenario.policy, target_rps)
        self.pools = scenario.pool_specs()
        self.state = PolicyState()
        self.nodes = KarpenterNodes()

    def metric(self, sim: Simulation, obs: Observation) -> float:
        """The scaled metric, as a request rate against ``spec.target_rps_per_replica``."""
        return obs.rps_stable or 0.0

    def start(self, sim: Simulation) -> None:
        rate = float(sim.demand[:WARM_S].mean()) if len(sim.demand) else 0.0
        # Sized with the scenario's target, whatever this peer's: every policy starts alike.
        warm = math.ceil(rate / sim.scenario.policy.target_rps_per_replica - 1e-9)
        warm = min(max(warm, self.spec.min_replicas), self.spec.max_replicas)
        sim.desired = warm
        # As if it had been running at this size: the scale-down window starts with it.
        self.state = PolicyState(last_at=sim.start, last_desired=warm, down_history=((sim.start, warm),))
        self.nodes.reconcile(sim, warm, sim.start, warm=True)

    def tick(self, sim: Simulation, obs: Observation) -> None:
        seen = obs.model_copy(update={"rps_stable": self.metric(sim, obs)})
        decision, self.state = decide(seen, self.spec, self.pools, self.state)
        sim.desired = decision.desired_replicas
        self.nodes.reconcile(sim, decision.desired_replicas, obs.now)


class HpaKarpenter(ReactivePeer):
    def __init__(self, scenario: Scenario, target_rps: float | None = None) -> None:
        super().__init__("hpa-karpenter", scenario, target_rps or scenario.policy.target_rps_per_replica)


class KedaQueue(ReactivePeer):
    def __init__(self, scenario: Scenario, target_waiting: float | None = None) -> None:
        super().__init__("keda-queue", scenario, scenario.policy.target_rps_per_replica)
        self.target_waiting = target_waiting or KEDA_DEFAULT_WAITING

    def metric(self, sim: Simulation, obs: Observation) -> float:
        waiting = max(0.0, float(sim.queue))  # the backlog: requests not yet in service
        return waiting * self.spec.target_rps_per_replica / self.target_waiting


class KedaConcurrency(KedaQueue):
    def __init__(self, scenario: Scenario, target_in_system: float | None = None) -> None:
        little = scenario.policy.target_rps_per_replica * scenario.model.service_time_s
        super().__init__(scenario, target_in_system or max(little, 1.0))
        self.name = "keda-concurrency"

    def metric(self, sim: Simulation, obs: Observation) -> float:
        in_system = float(obs.queue_depth or 0)  # backlog + in service
        return in_system * self.spec.target_rps_per_replica / self.target_waiting
