"""Fair peers for ``forescale simulate``, registered by name (STYLE.md #9).

``PEERS[name](scenario, demand, start, knob)`` builds a ``SimPolicy`` for ``Simulation.run``;
``knob`` is the peer's main setting (``KNOBS`` names it) or None for its default:

- ``hpa-karpenter``: HPA v2 defaults on req/s per replica, Karpenter nodes (spot first);
- ``keda-queue``: HPA v2 on waiting requests per replica (KEDA), Karpenter nodes;
- ``keda-concurrency``: the same on waiting + running requests per replica;
- ``clairvoyant``: forescale's core with the true future as its forecast (knob: headroom);
- ``hpa-ondemand``: the older ``hpa`` baseline (no spot, Cluster Autoscaler-like nodes).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from forescale.sim.engine import Run, SimPolicy, Simulation
from forescale.sim.peers.clairvoyant import clairvoyant
from forescale.sim.peers.reactive import HpaKarpenter, KedaConcurrency, KedaQueue
from forescale.sim.policies import HpaPolicy
from forescale.sim.scenario import Scenario

PeerFactory = Callable[[Scenario, np.ndarray, float, "float | None"], SimPolicy]


def _hpa_karpenter(sc: Scenario, demand: np.ndarray, start: float, knob: float | None) -> SimPolicy:
    return HpaKarpenter(sc, knob)


def _keda_queue(sc: Scenario, demand: np.ndarray, start: float, knob: float | None) -> SimPolicy:
    return KedaQueue(sc, knob)


def _keda_concurrency(sc: Scenario, demand: np.ndarray, start: float, knob: float | None) -> SimPolicy:
    return KedaConcurrency(sc, knob)


def _clairvoyant(sc: Scenario, demand: np.ndarray, start: float, knob: float | None) -> SimPolicy:
    if knob is not None:
        pre = sc.policy.prescale.model_copy(update={"headroom": knob})
        sc = sc.model_copy(update={"policy": sc.policy.model_copy(update={"prescale": pre})})
    return clairvoyant(sc, demand, start)


def _hpa_ondemand(sc: Scenario, demand: np.ndarray, start: float, knob: float | None) -> SimPolicy:
    if knob is not None:
        sc = sc.model_copy(update={"policy": sc.policy.model_copy(update={"target_rps_per_replica": knob})})
    policy = HpaPolicy(sc)
    policy.name = "hpa-ondemand"
    return policy


PEERS: dict[str, PeerFactory] = {
    "hpa-karpenter": _hpa_karpenter,
    "keda-queue": _keda_queue,
    "keda-concurrency": _keda_concurrency,
    "clairvoyant": _clairvoyant,
    "hpa-ondemand": _hpa_ondemand,
}

KNOBS = {
    "hpa-karpenter": "target req/s per replica",
    "keda-queue": "target waiting requests per replica",
    "keda-concurrency": "target requests in system per replica",
    "clairvoyant": "forecast headroom",
    "hpa-ondemand": "target req/s per replica",
}


def run_peer(
    name: str, scenario: Scenario, demand: np.ndarray, start: float, knob: float | None = None,
    tokens: np.ndarray | None = None,
) -> Run:  # fmt: skip
    """One peer's ``Run`` over ``demand`` (a fresh ``Simulation`` with the scenario's seed;
    ``tokens``: the token demand per second, which ``clairvoyant`` forecasts perfectly too)."""
    sim = Simulation(scenario, demand, start, tokens=tokens)
    return sim.run(PEERS[name](scenario, demand, start, knob))
