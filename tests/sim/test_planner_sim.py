"""The capacity planner in the replay: what it launches, and keeps, for a demand step.

Third pass of fair-evaluation.md: forescale with its forecast off spent more than
hpa-karpenter on the same replicas. A few spot replicas got a new node in every spot
zone, and a node starting in a pricier zone was cancelled for a new one in the cheapest
zone as soon as a node there became ready. These replays pin what the planner does now.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sim_helpers import START, base_scenario, scenario

from forescale.core.model import Observation
from forescale.sim.engine import Simulation
from forescale.sim.policies import CorePolicy
from forescale.sim.scenario import Scenario


def big_nodes_three_zones() -> Scenario:
    """A reserved 8-GPU node and three spot zones of 8-GPU nodes, 1 GPU per replica;
    forecast off and panic out of the way, so the planner alone decides the nodes."""
    doc = base_scenario()
    reserved = {**doc["pools"][0], "gpus_per_node": 8, "max_nodes": 1, "reservation_nodes": 1}
    spot = [
        {**doc["pools"][1], "name": f"spot-{z}", "zone": z, "price_per_node_hour": price, "gpus_per_node": 8}
        for z, price in (("a", 1.0), ("b", 1.1), ("c", 1.2))
    ]
    doc["pools"] = [reserved, *spot, {**doc["pools"][2], "gpus_per_node": 8}]
    doc["policy"] |= {"spot_max_fraction": 1.0, "panic_threshold": 10, "prescale": {"mode": "off"}}
    return scenario(doc)


class Watch:
    """The core policy, and the spot nodes it had: the most at once, and launches it
    cancelled (nodes gone from a pool before they were ever ready, with no interruption)."""

    def __init__(self, sc: Scenario) -> None:
        self.inner = CorePolicy("forescale", sc, None, math.inf)
        self.name = self.inner.name
        self.most = 0
        self.cancelled = 0
        self.starting: dict[int, Any] = {}

    def start(self, sim: Simulation) -> None:
        self.inner.start(sim)

    def tick(self, sim: Simulation, obs: Observation) -> None:
        self.inner.tick(sim, obs)
        spot = [p for p in sim.cluster.pools.values() if p.scen.capacity_type == "spot"]
        alive = {n.id for p in spot for n in p.nodes}
        self.cancelled += sum(1 for i, n in self.starting.items() if i not in alive and n.ready_at > obs.now)
        self.starting = {n.id: n for p in spot for n in p.nodes if n.ready_at > obs.now}
        self.most = max(self.most, sum(len(p.healthy(obs.now)) for p in spot))


def replay(*steps: tuple[float, int]) -> tuple[Simulation, Watch, Any]:
    sc = big_nodes_three_zones()
    demand = np.concatenate([np.full(n, rps) for rps, n in steps])
    sim = Simulation(sc, demand, START)
    watch = Watch(sc)
    return sim, watch, sim.run(watch)


def spot_nodes(sim: Simulation) -> dict[str, int]:
    pools = sim.cluster.pools.items()
    return {n: len(p.nodes) for n, p in pools if p.scen.capacity_type == "spot" and p.nodes}


def test_a_few_replicas_past_the_reservation_take_one_spot_node() -> None:
    """11 replicas (8.8 req/s at 0.8 each): 8 on the reservation, 3 on one spot node in
    the cheapest zone; no launch is cancelled on the way (the backlog term asks for more
    while the queue built in the lead time drains)."""
    sim, watch, run = replay((4.0, 600), (8.8, 1800))
    assert sim.desired == 11
    assert spot_nodes(sim) == {"spot-a": 1}
    assert watch.cancelled == 0
    assert watch.most <= 2
    assert run.ready[-600:].min() >= 11


def test_a_step_to_several_nodes_cancels_no_launch() -> None:
    """20 req/s: 25 replicas, 17 on spot (three nodes' worth, more while the backlog
    drains): nodes launched in the pricier zones are kept, never cancelled for a new one."""
    sim, watch, run = replay((4.0, 600), (20.0, 2400))
    assert sim.desired == 25
    assert watch.cancelled == 0
    assert sum(spot_nodes(sim).values()) == 3
    assert run.ready[-600:].min() >= 25
