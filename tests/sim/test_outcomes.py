"""Scenario tests: behaviour over time, asserted on outcomes (cost, SLO, where capacity went)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sim_helpers import START, availability_file, base_scenario, scenario

import forescale.prescaler  # noqa: F401  (registers the forecasters)
from forescale.sim.engine import Simulation
from forescale.sim.metrics import summarize
from forescale.sim.oracle import need
from forescale.sim.policies import CorePolicy
from forescale.sim.run import simulate
from forescale.traces import Trace
from forescale.traces.synthetic import Workload, synthetic_trace


def flat_trace(rps: float, seconds: int) -> Trace:
    times = START + np.arange(seconds, dtype=float)
    return Trace("flat", START, START + seconds, rate_times=times, rate_values=np.full(seconds, rps))


def test_spot_vanishing_at_600s_is_covered_on_demand(tmp_path: Path) -> None:
    """Spot capacity vanishes at t=600 s with two reserved nodes left: on-demand takes over
    within its lead time, the notice keeps the spot nodes serving meanwhile, SLO holds."""
    avail = availability_file(tmp_path, 600, [1] + [0] * 11)
    doc = base_scenario()
    doc["pools"][1]["spot"]["availability"] = {"path": str(avail)}
    # On-demand launch (60 s) + model load (30 s) fits in the 120 s notice.
    doc["pools"][2]["launch_delay"] = {"kind": "fixed", "low_s": 60}
    sc = scenario(doc)
    demand = flat_trace(8.0, 7200).rate_series(1.0).values
    sim = Simulation(sc, demand, START)
    run = sim.run(CorePolicy("forescale", sc, None, 3600))
    pools = sim.cluster.pools
    assert run.preemptions > 0  # the spot nodes were taken back
    assert pools["spot"].nodes == []
    assert len(pools["on-demand"].nodes) >= 6  # 10 replicas needed, 2 on the reservation
    assert len(pools["reserved"].nodes) == 2
    assert pools["spot"].insufficient_at is not None  # relaunch attempts met ICE
    assert summarize(sc, demand, run)["slo_attainment"] > 0.999
    # Before the loss, spot carried most of the load.
    assert run.ready[:600].min() >= 10


def test_policies_compared_on_a_daily_cycle() -> None:
    """Oracle costs least; static never misses; hpa uses no spot; forescale uses spot."""
    trace = synthetic_trace(6 * 3600, Workload(mean_rps=8, bursts_per_day=0, noise=0.02), seed=2)
    doc = base_scenario()
    doc["pools"][1]["spot"]["preemption_rate_per_hour"] = 0.05
    out = simulate(trace, scenario(doc), ["forescale", "hpa", "static", "oracle"]).results["policies"]
    costs = {name: row["cost_usd"] for name, row in out.items()}
    assert min(costs, key=costs.__getitem__) == "oracle"
    assert out["static"]["slo_attainment"] == pytest.approx(1.0)
    assert out["static"]["dropped"] == 0
    assert out["hpa"]["spot_fraction"] == 0
    assert out["forescale"]["spot_fraction"] > 0.3
    assert out["forescale"]["cost_usd"] < out["hpa"]["cost_usd"]
    assert out["forescale"]["slo_attainment"] > 0.99
    assert out["oracle"]["cost_vs_oracle"] == 1.0


def test_reservations_are_billed_unused() -> None:
    """No demand at all: the reservation is still paid for, hour by hour."""
    doc = base_scenario()
    doc["policy"]["min_replicas"] = 0
    out = simulate(flat_trace(0.0, 3600), scenario(doc), ["forescale", "oracle"]).results["policies"]
    for name in ("forescale", "oracle"):
        assert out[name]["cost_usd"] == pytest.approx(2 * 2.0, rel=0.01)  # 2 nodes x $2 x 1 h
        assert out[name]["gpu_hours"] == pytest.approx(2.0, rel=0.01)


def test_queue_limit_drops_and_counts_misses() -> None:
    """Demand far over max capacity with a queue limit: the excess is dropped, not queued."""
    doc = base_scenario()
    doc["model"]["queue_limit"] = 20
    doc["policy"]["max_replicas"] = 2
    out = simulate(flat_trace(6.0, 1800), scenario(doc), ["forescale"]).results["policies"]["forescale"]
    assert out["dropped"] > 0.5 * out["requests"]
    assert out["slo_attainment"] < 0.5


def test_same_seed_same_results() -> None:
    trace = synthetic_trace(3 * 3600, Workload(mean_rps=5), seed=4)
    doc = base_scenario()
    doc["pools"][1]["spot"]["preemption_rate_per_hour"] = 1.0
    one = simulate(trace, scenario(doc), ["forescale"]).results
    two = simulate(trace, scenario(doc), ["forescale"]).results
    assert one == two
    assert one["policies"]["forescale"]["preemptions"] > 0


def test_need_covers_the_slo_window() -> None:
    """need = ceil(mean arrivals over the SLO window / service rate)."""
    sc = scenario(base_scenario())  # SLO 10 s, service 1 s -> 9 s window, 1 req/s per replica
    demand = np.zeros(30)
    demand[10] = 18.0
    n = need(sc, demand)
    assert n[10] == 2  # 18 requests over the 10 s window (9 s + this second)
    assert n[19] == 2 and n[20] == 0  # windows (t-10, t] hold the burst up to t = 19
    assert n[9] == 0
