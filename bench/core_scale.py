"""Benchmark: one ``plan_tick`` for 1000 policies x 30 pools, against a 100 ms budget.

The production path: as the controller does, every tick starts from *stored JSON*: the
policies, the pools and each policy's state are parsed afresh (``model_validate_json``)
and the observations are new objects, so nothing can be reused by identity from one tick
to the next. Every policy may use all 30 pools (reserved, spot in three zones,
on-demand), sees a pool observation for each, two forecasts (60 one-minute points), a
schedule, and carries its state (through JSON) from tick to tick. One ``plan_tick``
decides all of them with one reservation ledger and returns the ordered commands.

Timed: ``plan_tick`` (decisions, ledger, commands). Parsing is timed separately and printed
(the controller parses a spec only when it changes; states are read every tick). Prints
wall and process CPU time per tick (CPU time is the fairer figure on a shared machine),
the median after two warm-up ticks, and as the last line a JSON object.

    .venv/bin/python bench/core_scale.py [--policies 1000] [--pools 30] [--ticks 10]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time

from forescale.core.model import (
    Decision,
    Forecast,
    ForecastPoint,
    Observation,
    PolicySpec,
    PolicyState,
    PoolObservation,
    PoolSpec,
    ScheduleSpec,
)
from forescale.core.tick import plan_tick

LIMIT_MS = 100.0
START = 1_700_000_000.0
TICK_S = 15.0


def make_pools(n: int) -> list[PoolSpec]:
    pools = []
    for i in range(n):
        kind = "reserved" if i < n // 10 else "spot" if i < n // 2 else "on-demand"
        price = {"reserved": 2.0, "spot": 1.0 + 0.05 * i, "on-demand": 4.0 + 0.1 * i}[kind]
        pools.append(
            PoolSpec(
                name=f"pool-{i:02d}",
                capacity_type=kind,
                price_per_node_hour=price,
                zone=f"zone-{i % 3}",
                gpus_per_node=8 if i % 2 else 4,
                max_nodes=40,
                reservation_nodes=4 if kind == "reserved" else 0,
                lead_time_s=240 + 10 * (i % 5),
            )
        )
    return pools


def make_spec(i: int) -> PolicySpec:
    return PolicySpec(
        model=f"model-{i:04d}",
        target_rps_per_replica=5.0 + i % 7,
        min_replicas=1,
        max_replicas=400,
        gpus_per_replica=1 + i % 2,
        on_demand_base=2,
        schedules=(ScheduleSpec(name="nightly", cron="0 2 * * *", duration_s=3600, min_replicas=4),),
    )


def forecast(now: float, level: float, source: str) -> Forecast:
    pts = tuple(
        ForecastPoint(t=now + 60 * k, rps=(level * (1 + 0.01 * k), level * (1.3 + 0.01 * k)))
        for k in range(60)
    )
    return Forecast(source=source, issued_at=now, step_s=60, quantiles=(0.5, 0.9), points=pts)


def make_obs(
    i: int, tick: int, pools: list[PoolSpec], last: Decision | None, rng: random.Random
) -> Observation:
    """What the controller would see: the nodes the last decision asked for are ready, a few
    pools report events (interruptions, insufficient capacity, launch durations)."""
    now = START + tick * TICK_S
    rps = 50 + 40 * rng.random() + 5 * (i % 11)
    planned = {t.pool: t for t in last.pools} if last else {}
    seen = []
    for p in pools:
        t = planned.get(p.name)
        seen.append(
            PoolObservation(
                name=p.name,
                ready_nodes=t.nodes if t else 0,
                ready_replicas=t.replicas if t else 0,
                starting_nodes=1 if rng.random() < 0.05 else 0,
                interruptions=1 if p.capacity_type == "spot" and t and rng.random() < 0.02 else 0,
                insufficient_capacity_at=now - 30 if rng.random() < 0.01 else None,
                lead_times_s=(200 + 100 * rng.random(),) if rng.random() < 0.02 else (),
            )
        )
    fcs = (forecast(now, rps, "learned"), forecast(now - 300, rps * 0.9, "external"))
    current = last.desired_replicas if last else 10
    return Observation(
        now=now,
        model=f"model-{i:04d}",
        rps_short=rps * 1.1,
        rps_stable=rps,
        queue_depth=rng.randrange(0, 50),
        current_replicas=current,
        ready_replicas=current,
        pools=tuple(seen),
        forecasts=fcs,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policies", type=int, default=1000)
    ap.add_argument("--pools", type=int, default=30)
    ap.add_argument("--ticks", type=int, default=8)
    args = ap.parse_args()
    rng = random.Random(7)
    stored_pools = [p.model_dump_json() for p in make_pools(args.pools)]
    stored_specs = [make_spec(i).model_dump_json() for i in range(args.policies)]
    stored_states = {f"model-{i:04d}": PolicyState().model_dump_json() for i in range(args.policies)}
    decisions: dict[str, Decision] = {}
    wall, cpu, parse = [], [], []
    for tick in range(args.ticks):
        p0 = time.perf_counter()
        pools = [PoolSpec.model_validate_json(raw) for raw in stored_pools]  # fresh objects every tick
        specs = [PolicySpec.model_validate_json(raw) for raw in stored_specs]
        states = {m: PolicyState.model_validate_json(raw) for m, raw in stored_states.items()}
        parse.append((time.perf_counter() - p0) * 1000)
        observations = {
            s.model: make_obs(i, tick, pools, decisions.get(s.model), rng) for i, s in enumerate(specs)
        }
        t0, c0 = time.perf_counter(), time.process_time()
        plan, new_states = plan_tick(observations, specs, pools, states)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        decisions = {d.model: d for d in plan.decisions}
        stored_states.update({m: st.model_dump_json() for m, st in new_states.items()})
        print(
            f"tick {tick}: {wall[-1]:.1f} ms wall, {cpu[-1]:.1f} ms CPU for {args.policies} policies x "
            f"{args.pools} pools, {len(plan.commands)} commands (parsing {parse[-1]:.0f} ms, not counted)"
        )
    # the first ticks fill the states; the steady state is what a controller runs in
    steady_wall, steady_cpu = wall[2:] or wall, cpu[2:] or cpu
    median, median_cpu = statistics.median(steady_wall), statistics.median(steady_cpu)
    verdict = "within" if median <= LIMIT_MS else "OVER"
    print(
        f"median {median:.1f} ms wall ({median_cpu:.1f} ms CPU) per tick, {verdict} the {LIMIT_MS:.0f} ms "
        f"limit ({median * 1000 / args.policies:.0f} us per policy); parsing "
        f"{statistics.median(parse):.0f} ms per tick besides; load average {os.getloadavg()[0]:.1f}"
    )
    print(
        json.dumps(
            {
                "benchmark": "core_scale",
                "policies": args.policies,
                "pools": args.pools,
                "ticks": args.ticks,
                "median_ms_per_tick": round(median, 2),
                "median_cpu_ms_per_tick": round(median_cpu, 2),
                "min_ms_per_tick": round(min(wall), 2),
                "median_parse_ms_per_tick": round(statistics.median(parse), 2),
                "limit_ms": LIMIT_MS,
                "within_limit": median <= LIMIT_MS,
                "load_average": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
