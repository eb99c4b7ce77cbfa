"""The demo's pure parts (scenario, fidelity arithmetic) and its process handling."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from forescale.core.model import PolicySpec
from forescale.loadgen.runner import DROPPED, Outcome
from forescale.stack import procs
from forescale.stack.recorder import cost_per_hour, spot_share, started_at
from forescale.stack.replay import (
    correlation,
    demand_per_second,
    live_cost,
    live_slo,
    per_second,
    replay,
    scenario,
    worker_start_s,
)
from forescale.stack.scenario import (
    DemoPlan,
    announced,
    outage_seconds,
    policy,
    pools,
    squeeze,
    synthetic_demand,
)


def test_squeeze_keeps_the_mean_and_the_length() -> None:
    values = np.arange(86_400, dtype=float)
    out = squeeze(values, 200)
    assert len(out) == 200 and out.mean() == pytest.approx(values.mean(), rel=1e-3)


def test_synthetic_day_has_its_event_and_burst_above_the_cycle() -> None:
    plan = DemoPlan()
    d = synthetic_demand(plan)
    ev0, ev1 = (int(x) for x in plan.event.seconds(plan.load_s))
    b0, b1 = (int(x) for x in plan.burst.seconds(plan.load_s))
    before_event = d[ev0 - 5 : ev0].mean()
    assert d[ev0:ev1].mean() > 1.5 * before_event
    assert d[b0:b1].mean() > 1.5 * d[b0 - 5 : b0].mean()
    assert d.mean() == pytest.approx(plan.mean_rps * 1.06, rel=0.1)  # the event and burst add a little


def test_policy_pools_and_announcement_are_valid_and_consistent() -> None:
    plan = DemoPlan(load_s=240)
    spec = policy(plan)
    assert PolicySpec.model_validate_json(spec.model_dump_json()) == spec
    kinds = sorted(p.capacity_type for p in pools())
    assert kinds == ["on-demand", "reserved", "spot", "spot"]
    ext = announced(plan, 1000.0)
    assert ext.windows[0].start == 1000.0 + 18 * 10 and ext.windows[0].end == 1000.0 + 19.5 * 10
    assert spec.min_replicas <= sum(p.reservation_nodes for p in pools())


@pytest.mark.parametrize(
    ("nodes", "cost", "share"),
    [
        ({}, 5.0, 0.0),  # the reservation is paid for even when empty
        ({"reserved-a": {"ready": 2}, "spot-a": {"ready": 1, "draining": 1}}, 7.2, 0.5),
        ({"on-demand": {"starting": 2}}, 5.0 + 7.8, 0.0),
    ],
)
def test_cost_and_spot_share(nodes: dict[str, dict[str, int]], cost: float, share: float) -> None:
    assert cost_per_hour(nodes, pools()) == pytest.approx(cost)
    assert spot_share(nodes, pools()) == pytest.approx(share)


def test_live_figures_from_outcomes_and_samples() -> None:
    outs = [
        Outcome(0.2, 0.3, 200),
        Outcome(0.7, 2.0, 200),
        Outcome(1.1, math.nan, DROPPED),
        Outcome(2.5, 0.1, 503),
    ]
    assert demand_per_second(outs, 3).tolist() == [2.0, 1.0, 1.0]
    assert live_slo(outs, 1.5) == 0.25
    samples = [
        {"t": 0.1, "ready": 2, "cost_per_hour": 3600.0},
        {"t": 2.05, "ready": 5, "cost_per_hour": 7200.0},
    ]
    assert per_second(samples, "ready", 4).tolist() == [2.0, 2.0, 5.0, 5.0]
    assert live_cost(samples, 4, compression=10.0) == pytest.approx((1 + 1 + 2 + 2) * 10)
    assert correlation(np.array([1.0, 2, 3]), np.array([2.0, 4, 6])) == pytest.approx(1.0)
    assert correlation(np.ones(5), np.arange(5.0)) is None


def test_simulator_replay_of_the_demo_scales_with_demand(tmp_path: Path) -> None:
    plan = DemoPlan(load_s=120)
    scen = scenario(plan, pools(), policy(plan), 1.0, tmp_path / "avail.json")
    demand = np.concatenate([np.full(60, 5.0), np.full(60, 30.0)])
    run, summary = replay(plan, scen, demand, 1_700_000_000.0, {"reserved-a": 2}, None)
    assert run.ready[:50].max() == 2 and run.ready[100:].min() >= 7
    assert 0.5 < summary["slo_attainment"] <= 1.0 and summary["cost_usd"] > 0


def _sleeper(children: procs.Children, name: str) -> int:
    """A child that forks a grandchild in the same group; returns the grandchild's pid."""
    script = "import subprocess, time; p = subprocess.Popen(['sleep', '60']); print(p.pid, flush=True)"
    script += "; time.sleep(60)"
    child = children.start(name, [sys.executable, "-c", script], {})
    for _ in range(600):  # Python starts slowly on a busy machine
        text = child.log_path.read_text().strip()
        if text:
            return int(text)
        time.sleep(0.05)
    raise AssertionError("grandchild did not start")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_stop_ends_each_group_and_the_sweep_finds_strays(tmp_path: Path) -> None:
    run_id = uuid.uuid4().hex
    children = procs.Children(run_id, tmp_path)
    grandchild = _sleeper(children, "a")
    # A stray in a session of its own (as the local provider starts workers): not in any
    # group the demo signals, found by the run id in its environment.
    stray = os.spawnve(os.P_NOWAIT, "/bin/sleep", ["sleep", "60"], {**os.environ, procs.MARKER: run_id})
    for _ in range(600):  # until the stray has exec'd with its environment
        if {grandchild, stray} <= set(procs.marked(run_id)):
            break
        time.sleep(0.05)
    assert {grandchild, stray} <= set(procs.marked(run_id))
    children.stop(grace_s=5)
    os.waitpid(stray, 0)  # our own child: reap it so that it is gone, not a zombie
    assert not _alive(grandchild) and not _alive(stray)
    assert procs.marked(run_id) == []


def test_both_subcommands_register_and_bad_minutes_is_one_line() -> None:
    import argparse

    from forescale.cliutil import CliError
    from forescale.loadgen import cli as loadgen_cli
    from forescale.stack import cli as stack_cli

    parser = argparse.ArgumentParser(prog="forescale")
    sub = parser.add_subparsers(dest="command", required=True)
    stack_cli.register(sub)
    loadgen_cli.register(sub)
    args = parser.parse_args(["demo", "--minutes", "2", "--no-live"])
    assert args.func is not None and stack_cli.minutes_from(args) == 2.0
    lg = parser.parse_args(["loadgen", "--url", "http://x:1", "--trace", "t.csv", "--time-scale", "0.1"])
    assert lg.time_scale == 0.1 and lg.model == "model"
    with pytest.raises(CliError, match=r"^--minutes: expected minutes > 0, not '-1'$"):
        stack_cli.minutes_from(parser.parse_args(["demo", "--minutes", "-1"]))


def test_worker_start_is_measured_per_worker() -> None:
    # (process start, first ready beat) of three workers: 1, 3 and 2 s
    assert worker_start_s([(10.0, 11.0), (20.0, 23.0), (30.0, 32.0)], fallback=9.0) == pytest.approx(2.0)
    assert worker_start_s([(10.0, 11.0), (20.0, 23.0)], fallback=9.0) == 9.0  # too few to say


def test_a_process_start_time_is_read_from_proc() -> None:
    before = time.time()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        began = started_at(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    # to a clock tick (10 ms), not to /proc/stat's whole-second boot time
    assert began is not None and before - 0.05 <= began <= time.time()
    assert started_at(proc.pid) is None  # gone


def test_replay_starts_from_the_idle_history_live_had(tmp_path: Path) -> None:
    """Live, the rate windows held idle seconds at load start; the replay must too (the
    simulator alone averages over the seconds since its start and sees second 0 at once)."""
    from forescale.stack.replay import history_s

    plan = DemoPlan(load_s=60)
    spec = policy(plan)
    scen = scenario(plan, pools(), spec, 1.0, tmp_path / "avail.json")
    demand = np.full(60, 8.0)  # 2.9 replicas' worth at the 2.8 req/s target
    run, summary = replay(plan, scen, demand, 1_700_000_000.0, {"reserved-a": 2}, None)
    assert len(run.ready) == 60 and len(run.tick_desired) == 60 and run.tick_t[0] == 0
    # The 8 s stable window fills second by second: no third replica in the first seconds.
    assert run.tick_desired[:5] == [2] * 5 and max(run.tick_desired) >= 3
    assert run.cost_usd == pytest.approx(run.tick_cost[-1]) and summary["cost_usd"] == run.cost_usd
    # The outage trace moved with the history, at the seconds the live run stages it.
    a, _ = outage_seconds(plan)
    data = json.loads((tmp_path / "avail.json").read_text())["data"]
    assert data[history_s(spec) + int(a)] == 0 and data[history_s(spec) + int(a) - 1] == 1
