"""The need per second, and the perfect-foresight ``oracle`` lower bound computed from it.

``need[t]`` spreads each request's work evenly over the ``W + 1`` seconds it may wait
(``W`` = the SLO less the service time, whole seconds): the arrivals of the last ``W + 1``
seconds divided by ``(W + 1) x`` the per-replica service rate, rounded up. Capacity that
serves every request within its window exists exactly then, and FIFO (earliest deadline
first, as all deadlines are equal) meets every deadline any schedule meets; so need is
the least capacity that misses nothing. The oracle has exactly that capacity ready
every second, on the cheapest capacity available at that second (reservations, then spot
where the availability trace allows, then on-demand), with no lead time and no
preemption. It is a lower bound on cost, not a policy anyone can run.
"""

from __future__ import annotations

import math

import numpy as np

from forescale.sim.engine import Run, serve_fluid
from forescale.sim.scenario import PoolScenario, Scenario
from forescale.sim.spot import pool_availability


def slo_window_s(scenario: Scenario) -> int:
    return max(1, math.floor(scenario.slo.latency_s - scenario.model.service_time_s))


def need(scenario: Scenario, demand: np.ndarray) -> np.ndarray:
    """Replicas needed per second (integer-valued float array)."""
    w = slo_window_s(scenario) + 1
    prefix = np.concatenate([[0.0], np.cumsum(demand)])
    idx = np.arange(1, len(demand) + 1)
    recent = prefix[idx] - prefix[np.maximum(idx - w, 0)]
    return np.ceil(recent / (w * scenario.model.service_rate_rps) - 1e-9)


def cheapest_first(scenario: Scenario, *, spot: bool = True) -> list[PoolScenario]:
    """Pools by price per replica: reservations (already paid) first, then spot, then on-demand."""
    rank = {"reserved": 0, "spot": 1, "on-demand": 2}
    pools = [p for p in scenario.pools if spot or p.capacity_type != "spot"]
    return sorted(
        pools, key=lambda p: (rank[p.capacity_type], p.price_per_node_hour / scenario.replicas_per_node(p))
    )


def oracle_run(scenario: Scenario, demand: np.ndarray) -> Run:
    n = len(demand)
    t = np.arange(n, dtype=float)
    remaining = need(scenario, demand)
    ready = np.zeros(n)
    run = Run("oracle", ready, np.zeros(n), np.zeros(n))
    cost = np.zeros(n)
    for pool in cheapest_first(scenario):
        slots = scenario.replicas_per_node(pool)
        max_nodes = float(pool.max_nodes if pool.capacity_type != "reserved" else pool.reservation_nodes)
        if pool.capacity_type == "spot":
            avail = pool_availability(pool)
            idx = ((t + avail.offset_s) // avail.gap_s).astype(int) % len(avail.fraction)
            max_nodes_t = np.floor(avail.fraction[idx] * pool.max_nodes + 1e-9)
        else:
            max_nodes_t = np.full(n, max_nodes)
        used = np.minimum(remaining, max_nodes_t * slots)
        nodes = np.ceil(used / slots)
        if pool.capacity_type == "reserved":
            nodes = np.maximum(nodes, pool.reservation_nodes)
        remaining = remaining - used
        ready += used
        cost += nodes * pool.price_per_node_hour / 3600.0
        run.gpu_s += float(nodes.sum()) * pool.gpus_per_node
        if pool.capacity_type == "spot":
            run.spot_gpu_s += float(nodes.sum()) * pool.gpus_per_node
    _, run.served[:], run.dropped[:] = serve_fluid(
        demand, ready, scenario.model.service_rate_rps, 0.0, scenario.model.queue_limit
    )
    run.cost_usd = float(cost.sum())
    cum = np.cumsum(cost)
    step = int(scenario.tick_s)
    run.tick_t = [float(i) for i in range(0, n, step)]
    run.tick_cost = [float(cum[min(n - 1, i + step - 1)]) for i in range(0, n, step)]
    run.tick_desired = [int(ready[i]) for i in range(0, n, step)]
    return run
