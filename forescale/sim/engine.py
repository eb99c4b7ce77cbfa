"""The replay loop: demand per second against simulated capacity, one control tick at a time.

Every ``tick_s`` the policy sees an ``Observation`` built from the simulated state and
acts on the ``Cluster``; between ticks the cluster turns into ready replicas per second
and a fluid FIFO queue serves the demand (arrivals against ``ready x service rate``,
backlog carried, arrivals beyond the queue limit dropped). The queue is a plain float
loop over each tick's seconds: a 7-day trace is 604,800 steps, well under a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from forescale.core.execute import drive
from forescale.core.model import Observation
from forescale.core.observe import assemble
from forescale.core.ports import Signals
from forescale.sim.cluster import Cluster
from forescale.sim.ports import ClusterPorts
from forescale.sim.scenario import Scenario


class SimPolicy(Protocol):
    """A policy under simulation: acts on the cluster at the start and at every tick."""

    name: str

    def start(self, sim: Simulation) -> None:
        """Provision the initial capacity (ready at once: every policy starts warm)."""
        ...

    def tick(self, sim: Simulation, obs: Observation) -> None: ...


@dataclass
class Run:
    """What one policy did over the trace; per second unless named per tick."""

    name: str
    ready: np.ndarray  # ready replicas
    served: np.ndarray
    dropped: np.ndarray
    tick_t: list[float] = field(default_factory=list)  # seconds from the start
    tick_cost: list[float] = field(default_factory=list)  # cumulative USD
    tick_desired: list[int] = field(default_factory=list)
    cost_usd: float = 0.0
    gpu_s: float = 0.0
    spot_gpu_s: float = 0.0
    preemptions: int = 0
    winners: dict[str, int] = field(default_factory=dict)


class Simulation:
    """One policy's replay of ``demand`` (requests arriving in each second from ``start``)."""

    def __init__(
        self, scenario: Scenario, demand: np.ndarray, start: float, *, seed: int | None = None,
        tokens: np.ndarray | None = None,
    ) -> None:  # fmt: skip
        self.scenario = scenario
        self.demand = demand
        self.tokens = tokens  # prompt + output tokens arriving per second, when the trace has them
        self.token_prefix = None if tokens is None else np.concatenate([[0.0], np.cumsum(tokens)])
        self.start = start
        self.cluster = Cluster(
            scenario, start, np.random.default_rng(scenario.seed if seed is None else seed)
        )
        self.prefix = np.concatenate([[0.0], np.cumsum(demand)])
        self.queue = 0.0
        self.last_served = 0.0
        self.desired = 0

    def rate(self, i: int, window_s: float) -> float:
        """Mean arrivals per second over the ``window_s`` seconds before second ``i``."""
        w = max(1, min(int(window_s), i))
        if i == 0:
            return float(self.demand[0]) if len(self.demand) else 0.0
        return float(self.prefix[i] - self.prefix[i - w]) / w

    def signals(self, now: float) -> Signals:
        """What the controller's metrics source would read now (rates over the policy's windows)."""
        i = int(now - self.start)
        spec = self.scenario.policy
        in_flight = self.last_served * self.scenario.model.service_time_s
        metrics = {}
        if self.token_prefix is not None:  # an HPA v2 token_throughput metric reads tokens/s
            w = max(1, min(int(spec.stable_window_s), i))
            metrics["token_throughput"] = (
                float(self.token_prefix[i] - self.token_prefix[i - w]) / w if i else 0.0
            )
        return Signals(
            at=now,
            rps_short=self.rate(i, spec.panic_window_s),
            rps_stable=self.rate(i, spec.stable_window_s),
            queue_depth=round(self.queue + in_flight),
            metrics=metrics,
        )

    def observation(self, now: float) -> Observation:
        """What the controller would observe now: assembled from the same ports it reads."""
        model = self.scenario.policy.model
        ports = ClusterPorts(self.cluster, now)
        specs = self.scenario.pool_specs()
        pools = drive(ports.observe(model, specs, now))
        return assemble(now, model, self.signals(now), pools, drive(ports.replicas(model, specs)))

    def run(self, policy: SimPolicy) -> Run:
        n = len(self.demand)
        tick = self.scenario.tick_s
        ready = np.zeros(n)
        served = np.zeros(n)
        dropped = np.zeros(n)
        out = Run(policy.name, ready, served, dropped)
        policy.start(self)
        for k in range(math.ceil(n / tick)):
            t0 = k * tick
            now = self.start + t0
            if k:
                self.cluster.interrupt_unavailable(now)
                policy.tick(self, self.observation(now))
            i0, i1 = int(t0), min(n, int(t0 + tick))
            self.cluster.advance(now, self.start + i1, ready, i0)
            self._serve(i0, i1, ready, served, dropped)
            out.tick_t.append(t0)
            out.tick_cost.append(sum(p.cost_usd for p in self.cluster.pools.values()))
            out.tick_desired.append(self.desired)
        pools = self.cluster.pools.values()
        out.cost_usd = sum(p.cost_usd for p in pools)
        out.gpu_s = sum(p.gpu_s for p in pools)
        out.spot_gpu_s = sum(p.gpu_s for p in pools if p.scen.capacity_type == "spot")
        out.preemptions = sum(p.preemptions for p in pools)
        return out

    def _serve(self, i0: int, i1: int, ready: np.ndarray, served: np.ndarray, dropped: np.ndarray) -> None:
        q, s, d = serve_fluid(
            self.demand[i0:i1],
            ready[i0:i1],
            self.scenario.model.service_rate_rps,
            self.queue,
            self.scenario.model.queue_limit,
        )
        served[i0:i1] = s
        dropped[i0:i1] = d
        self.queue = q
        if i1 > i0:
            self.last_served = float(s[-1])


def serve_fluid(
    arrivals: np.ndarray, ready: np.ndarray, mu: float, queue: float, limit: int | None
) -> tuple[float, np.ndarray, np.ndarray]:
    """FIFO fluid queue, one step per second: ``(backlog after, served, dropped)``."""
    served = np.empty(len(arrivals))
    dropped = np.zeros(len(arrivals))
    cap = (ready * mu).tolist()
    lim = math.inf if limit is None else float(limit)
    for j, a in enumerate(arrivals.tolist()):
        total = queue + a
        done = total if total < cap[j] else cap[j]
        queue = total - done
        if queue > lim:
            dropped[j] = queue - lim
            queue = lim
        served[j] = done
    return queue, served, dropped
