"""The fair peers: Karpenter-style nodes, KEDA scaling, the clairvoyant forecast."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from sim_helpers import START, availability_file, base_scenario, scenario

from forescale.sim.engine import Simulation
from forescale.sim.metrics import summarize
from forescale.sim.peers import PEERS, run_peer
from forescale.sim.peers.clairvoyant import TrueFuture
from forescale.sim.peers.karpenter import UNAVAILABLE_TTL_S
from forescale.sim.peers.reactive import HpaKarpenter, KedaQueue
from forescale.sim.run import parse_policies, simulate
from forescale.traces.synthetic import Workload, synthetic_trace
from forescale.traces.trace import RateSeries


def steps(*parts: tuple[float, int]) -> np.ndarray:
    return np.concatenate([np.full(n, rps) for rps, n in parts])


def test_peers_are_policies_of_simulate() -> None:
    assert parse_policies("hpa-karpenter,keda-queue,clairvoyant,hpa-ondemand") == [
        "hpa-karpenter", "keda-queue", "clairvoyant", "hpa-ondemand",
    ]  # fmt: skip
    assert set(PEERS) >= {"hpa-karpenter", "keda-queue", "keda-concurrency", "clairvoyant", "hpa-ondemand"}


def test_hpa_karpenter_takes_spot_first_and_beats_on_demand_hpa() -> None:
    """Same HPA replicas, spot nodes: cheaper than the on-demand-only baseline, SLO alike."""
    trace = synthetic_trace(3 * 3600, Workload(mean_rps=8, bursts_per_day=0, noise=0.02), seed=2)
    out = simulate(trace, scenario(base_scenario()), ["hpa-karpenter", "hpa-ondemand"]).results["policies"]
    assert out["hpa-karpenter"]["spot_fraction"] > 0.5
    assert out["hpa-ondemand"]["spot_fraction"] == 0
    assert out["hpa-karpenter"]["cost_usd"] < 0.6 * out["hpa-ondemand"]["cost_usd"]
    assert out["hpa-karpenter"]["slo_attainment"] == pytest.approx(
        out["hpa-ondemand"]["slo_attainment"], abs=0.01
    )


def test_insufficient_spot_falls_back_to_on_demand_and_retries_after_the_cache(tmp_path: Path) -> None:
    """Spot holds 3 nodes only: the rest goes on-demand at once; spot is tried again only
    after the 3-minute unavailable-offerings cache, and never beyond what it allows."""
    avail = availability_file(tmp_path, 3600, [3, 20])  # 3 of 20 nodes in the first hour
    doc = base_scenario()
    doc["pools"][1]["spot"]["availability"] = {"path": str(avail)}
    sc = scenario(doc)
    demand = steps((2.0, 600), (12.0, 3000))
    sim = Simulation(sc, demand, START)
    peer = HpaKarpenter(sc)
    run = sim.run(peer)
    pools = sim.cluster.pools
    assert len(pools["spot"].nodes) == 3
    assert len(pools["on-demand"].nodes) >= 8  # 15 replicas less 2 reserved, 3 spot
    marks = [t for name, t in peer.nodes.failed if name == "spot"]
    assert marks and marks[0] - START == pytest.approx(615, abs=30)  # the first scale-up after the step
    # the cache held spot off between attempts: no retry sooner than its TTL
    assert all(b - a >= UNAVAILABLE_TTL_S for a, b in itertools.pairwise(marks))
    assert run.ready[1000:].min() >= 15  # on-demand made up the rest within its lead time


def test_empty_nodes_are_consolidated_after_the_delay() -> None:
    """Demand falls from 12 to 2 req/s: after HPA's 300 s window and the consolidation delay,
    spot and on-demand nodes beyond the need are gone; the reservation stays."""
    sc = scenario(base_scenario())
    demand = steps((12.0, 1800), (2.0, 1200))
    sim = Simulation(sc, demand, START)
    sim.run(HpaKarpenter(sc))
    pools = sim.cluster.pools
    held = sum(len(p.nodes) for name, p in pools.items() if name != "reserved")
    assert len(pools["reserved"].nodes) == 2
    assert held <= 2  # ceil(2 / 0.8) = 3 replicas, 2 of them on the reservation
    assert sim.desired == 3


def test_keda_queue_scales_on_the_backlog_only() -> None:
    """Flat 4 req/s (5 replicas at the target): while capacity keeps up nothing waits, so
    KEDA's count falls to min_replicas once the 300 s window passes; the backlog that then
    builds scales it far past the need: the sawtooth of scaling on waiting requests."""
    sc = scenario(base_scenario())
    run = Simulation(sc, steps((4.0, 1200)), START).run(KedaQueue(sc))
    desired = run.tick_desired
    assert desired[0] == 5
    assert desired.index(1) * 15 == pytest.approx(300, abs=30)
    assert max(desired[desired.index(1) :]) >= 20
    concurrency = run_peer("keda-concurrency", sc, steps((4.0, 1200)), START)
    assert min(concurrency.tick_desired) >= 4  # waiting + running never reads zero


def test_true_future_forecast_is_the_trace_ahead() -> None:
    demand = steps((1.0, 60), (5.0, 60))
    past = RateSeries(START, 60.0, np.ones(1))
    f = TrueFuture(demand, START, 30).forecast(past, START + 30, 90, (0.5, 0.9))
    assert f is not None
    assert [p.t - START for p in f.points] == [30, 60, 90]
    assert [p.rps for p in f.points] == [(1.0, 1.0), (5.0, 5.0), (5.0, 5.0)]


def test_clairvoyant_meets_a_burst_the_reactive_peer_misses() -> None:
    """A surge arriving at once: the true forecast has capacity ready when it comes."""
    sc = scenario(base_scenario())
    demand = steps((3.0, 1200), (14.0, 900), (3.0, 600))
    cv = summarize(sc, demand, run_peer("clairvoyant", sc, demand, START))
    hk = summarize(sc, demand, run_peer("hpa-karpenter", sc, demand, START))
    assert cv["slo_attainment"] > 0.999
    assert hk["slo_attainment"] < 0.95
