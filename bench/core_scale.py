"""Benchmark: one controller tick's core work for 1000 policies x 30 pools, against 100 ms.

The production path, as ``controller/loop.py`` and ``controller/store.py`` run it: every
tick starts from *stored JSON*. The policies and pools are read as JSON each tick and
their versions (content hashes, ``store.version_of``) checked; a spec is parsed only when
its version changed (the store keeps the parsed value while the JSON is the same), which
in a steady state is never. Each policy's state is read from its stored JSON every tick
through ``store.States``, as the controller's store reads it: its version checked, and
parsed only when it is not the JSON the controller wrote last (the controller is the
one writer of states). The observations are new objects every tick, so nothing can be
reused by identity from one tick to the next. Every policy may use all 30
pools (reserved, spot in three zones, on-demand), sees a pool observation for each, two
forecasts (60 one-minute points), a schedule, and carries its state (through JSON) from
tick to tick. One ``plan_tick`` decides all of them with one reservation ledger and
returns the ordered commands.

It runs the core as installed: compiled by mypyc where ``make install`` could build it
(``forescale.core.COMPILED``, printed), pure Python otherwise (``FORESCALE_PURE_CORE=1``
forces that).

Timed, per tick: reading the stored specs and states (version check, parse when changed),
and ``plan_tick`` (decisions, ledger, commands). Printed besides, not counted:
building the observations (the controller's observe step, I/O-bound, measured by
``bench/controller_scale.py``) and writing the states back. Prints wall and process CPU
time per tick (CPU time is the fairer figure on a shared machine), the median after two
warm-up ticks, and as the last line a JSON object.

    .venv/bin/python bench/core_scale.py [--policies 1000] [--pools 30] [--ticks 8]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import time
from typing import Any

import forescale.core
from forescale.controller.heap import young_only
from forescale.controller.store import States, version_of
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
                # as core/observe.py's assemble fills them from the replica setter: requested
                # and ready (the last decision's, all ready by now)
                replicas=t.replicas if t else 0,
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


class GcClock:
    """Time spent in the cyclic garbage collector (``gc.callbacks``), to say how much of a
    tick was collection: the observations each tick are ~10^5 new objects, and a full
    collection that falls into the tick walks all of them."""

    def __init__(self) -> None:
        self.total_s = 0.0
        self._start = 0.0
        gc.callbacks.append(self._on)

    def _on(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.total_s += time.perf_counter() - self._start


class Stored:
    """What ``controller/store.py`` keeps: a spec parsed from its JSON, reused while the JSON's
    version (content hash) is unchanged."""

    def __init__(self) -> None:
        self.parsed: dict[str, tuple[str, Any]] = {}
        self.parses = 0

    def read(self, kind: type[PolicySpec] | type[PoolSpec], stored: dict[str, str]) -> list[Any]:
        out = []
        for name, raw in sorted(stored.items()):
            version = version_of(raw)
            hit = self.parsed.get(name)
            if hit is None or hit[0] != version:
                hit = self.parsed[name] = (version, kind.model_validate_json(raw))
                self.parses += 1
            out.append(hit[1])
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policies", type=int, default=1000)
    ap.add_argument("--pools", type=int, default=30)
    ap.add_argument("--ticks", type=int, default=8)
    args = ap.parse_args()
    rng = random.Random(7)
    stored_pools = {p.name: p.model_dump_json() for p in make_pools(args.pools)}
    stored_specs = {f"model-{i:04d}": make_spec(i).model_dump_json() for i in range(args.policies)}
    stored_states = {m: PolicyState().model_dump_json() for m in stored_specs}
    pool_store, spec_store, state_store = Stored(), Stored(), States()
    decisions: dict[str, Decision] = {}
    wall, cpu, plan_ms, read_ms, obs_ms, save_ms, gc_ms = [], [], [], [], [], [], []
    collector = GcClock()
    for tick in range(args.ticks):
        o0 = time.perf_counter()
        # the controller's observe step (not timed): fresh objects every tick
        by_name = [PoolSpec.model_validate_json(raw) for raw in stored_pools.values()]
        observations = {
            m: make_obs(i, tick, by_name, decisions.get(m), rng) for i, m in enumerate(sorted(stored_specs))
        }
        obs_ms.append((time.perf_counter() - o0) * 1000)
        t0, c0, g0 = time.perf_counter(), time.process_time(), collector.total_s
        pools = pool_store.read(PoolSpec, stored_pools)
        specs = spec_store.read(PolicySpec, stored_specs)
        states = {m: state_store.read(m, raw) for m, raw in stored_states.items()}
        t1 = time.perf_counter()
        with young_only():  # as controller/loop.py decides: see controller/heap.py
            plan, new_states = plan_tick(observations, specs, pools, states)
        t2 = time.perf_counter()
        wall.append((t2 - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        gc_ms.append((collector.total_s - g0) * 1000)
        read_ms.append((t1 - t0) * 1000)
        plan_ms.append((t2 - t1) * 1000)
        decisions = {d.model: d for d in plan.decisions}
        s0 = time.perf_counter()
        stored_states.update({m: state_store.dump(m, st) for m, st in new_states.items()})
        save_ms.append((time.perf_counter() - s0) * 1000)
        print(
            f"tick {tick}: {wall[-1]:.1f} ms wall ({read_ms[-1]:.1f} reading specs and states, "
            f"{plan_ms[-1]:.1f} plan_tick; {gc_ms[-1]:.1f} of it in the GC), {cpu[-1]:.1f} ms CPU "
            f"for {args.policies} policies x "
            f"{args.pools} pools, {len(plan.commands)} commands; not counted: observations "
            f"{obs_ms[-1]:.0f} ms, saving states {save_ms[-1]:.0f} ms"
        )
    # the first ticks fill the states; the steady state is what a controller runs in
    steady = slice(2, None) if len(wall) > 2 else slice(None)
    median, median_cpu = statistics.median(wall[steady]), statistics.median(cpu[steady])
    median_plan, median_read = statistics.median(plan_ms[steady]), statistics.median(read_ms[steady])
    verdict = "within" if median <= LIMIT_MS else "OVER"
    print(
        f"median {median:.1f} ms wall ({median_cpu:.1f} ms CPU) per tick, {verdict} the {LIMIT_MS:.0f} ms "
        f"limit ({median * 1000 / args.policies:.0f} us per policy): plan_tick {median_plan:.1f} ms, "
        f"reading {median_read:.1f} ms, GC {statistics.median(gc_ms[steady]):.1f} ms; "
        f"specs parsed {spec_store.parses} times in {args.ticks} ticks; "
        f"core {'compiled' if forescale.core.COMPILED else 'pure Python'}; "
        f"load average {os.getloadavg()[0]:.1f}"
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
                "median_plan_tick_ms": round(median_plan, 2),
                "median_read_ms": round(median_read, 2),
                "median_gc_ms_in_tick": round(statistics.median(gc_ms[steady]), 2),
                "spec_parses": spec_store.parses,
                "core_compiled": forescale.core.COMPILED,
                "median_observations_ms_not_counted": round(statistics.median(obs_ms), 2),
                "median_save_states_ms_not_counted": round(statistics.median(save_ms), 2),
                "limit_ms": LIMIT_MS,
                "within_limit": median <= LIMIT_MS,
                "load_average": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
