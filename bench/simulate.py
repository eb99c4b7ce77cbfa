"""Replay speed: a 7-day trace at 1-s resolution, per policy, against the 60 s target.

Synthetic demand (forescale.traces.synthetic: daily cycle, weekly dip, bursts), so the
benchmark runs anywhere; ``--trace`` and ``--scenario`` time a real one instead.
Prints one line per policy: seconds, simulated seconds per wall second, pass/fail.

The forecaster (``--forecaster``, default the simulator's: gbq) makes its forecasts once
per trace, shared by every run on it (forescale/sim/forecast_cache.py); that is timed on
its own line first ("forecasts"), so each policy's line is the replay itself, as every
run after the first in a sweep sees it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import forescale.prescaler  # noqa: F401  (registers the forecasters)
from forescale.sim.defaults import DEFAULT_REFIT_S, SHIPPED_FORECASTER
from forescale.sim.oracle import need
from forescale.sim.run import POLICY_NAMES, run_policy
from forescale.sim.scenario import Scenario, load_scenario
from forescale.traces import load_trace
from forescale.traces.synthetic import Workload, synthetic_trace

LIMIT_S = 60.0
DEFAULT_SCENARIO = {
    "name": "bench",
    "slo": {"latency_s": 10},
    "model": {"service_rate_rps": 1.0, "service_time_s": 2, "load_time_s": 60},
    "pools": [
        {
            "name": "reserved",
            "capacity_type": "reserved",
            "price_per_node_hour": 20,
            "gpus_per_node": 8,
            "max_nodes": 2,
            "reservation_nodes": 2,
        },
        {
            "name": "spot-a",
            "capacity_type": "spot",
            "price_per_node_hour": 12,
            "gpus_per_node": 8,
            "max_nodes": 12,
            "spot": {"preemption_rate_per_hour": 0.05, "notice_s": 120},
        },
        {
            "name": "spot-b",
            "capacity_type": "spot",
            "price_per_node_hour": 13,
            "gpus_per_node": 8,
            "max_nodes": 12,
            "zone": "zone-b",
            "spot": {"preemption_rate_per_hour": 0.05, "notice_s": 120},
        },
        {
            "name": "on-demand",
            "capacity_type": "on-demand",
            "price_per_node_hour": 32,
            "gpus_per_node": 8,
            "max_nodes": 25,
        },
    ],
    "policy": {"target_rps_per_replica": 0.8, "max_replicas": 200, "min_replicas": 2},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", help="A real trace instead of the synthetic 7 days.")
    parser.add_argument("--scenario", help="Scenario YAML (default: a built-in 3-pool scenario).")
    parser.add_argument("--policies", default=",".join(POLICY_NAMES))
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--forecaster", default=SHIPPED_FORECASTER)
    parser.add_argument("--refit", type=float, default=DEFAULT_REFIT_S, help="Seconds between refits.")
    args = parser.parse_args()
    scenario = load_scenario(args.scenario) if args.scenario else Scenario.model_validate(DEFAULT_SCENARIO)
    if args.trace:
        trace = load_trace(Path(args.trace))
    else:
        trace = synthetic_trace(args.days * 86400, Workload(mean_rps=60.0), kind="requests", seed=7)
    t = time.perf_counter()
    series = trace.rate_series(1.0)
    demand = np.nan_to_num(series.values)
    print(
        f"trace: {len(demand):,} s ({len(demand) / 86400:.2f} days), {demand.sum():,.0f} requests, "
        f"binned in {time.perf_counter() - t:.2f} s"
    )
    peak = int(need(scenario, demand).max())
    t = time.perf_counter()
    run_policy("forescale", scenario, demand, series.start, peak, args.forecaster, args.refit)
    first = time.perf_counter() - t
    worst = 0.0
    for name in args.policies.split(","):
        t = time.perf_counter()
        run_policy(name, scenario, demand, series.start, peak, args.forecaster, args.refit)
        took = time.perf_counter() - t
        if name == "forescale":  # the forecasts, made once per trace: the first run less a replay
            print(f"{'forecasts':>20}: {first - took:6.1f} s  ({args.forecaster}, once per trace)")
        worst = max(worst, took)
        verdict = "ok" if took < LIMIT_S else "OVER"
        print(
            f"{name:>20}: {took:6.1f} s  ({len(demand) / took:,.0f} sim-s per s)  "
            f"limit {LIMIT_S:.0f} s: {verdict}"
        )
    print(f"slowest policy: {worst:.1f} s of {LIMIT_S:.0f} s")
    return 0 if worst < LIMIT_S else 1


if __name__ == "__main__":
    sys.exit(main())
