"""The simulator's optional waiting-time terms (``summarize(queueing=...)``), which the
demo's replay uses; the default (``fluid``) is what tests/sim pins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from forescale.sim.engine import Run, serve_fluid
from forescale.sim.metrics import Queueing, erlang_c, mdc_late, summarize
from forescale.sim.scenario import Scenario
from forescale.stack.replay import scenario
from forescale.stack.scenario import DemoPlan, policy, pools


def _scenario(tmp_path: Path) -> Scenario:
    plan = DemoPlan()
    return scenario(plan, pools(), policy(plan), 3.0, tmp_path / "avail.json")


def _slo(scen: Scenario, demand: np.ndarray, run: Run, mode: Queueing = "fluid") -> float:
    return float(summarize(scen, demand, run, queueing=mode)["slo_attainment"] or 0.0)


def _run(demand: np.ndarray, replicas: int, mu: float = 4.0) -> Run:
    ready = np.full(len(demand), float(replicas))
    _, served, dropped = serve_fluid(demand, ready, mu, 0.0, 300)
    return Run("t", ready, served, dropped)


def test_erlang_c_matches_known_values() -> None:
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert 0 < erlang_c(40, 30.0) < erlang_c(40, 38.0) < 1


def test_mdc_term_grows_towards_saturation_and_ignores_empty_pools() -> None:
    ready = np.array([3.0, 3.0, 3.0, 0.0])
    late = mdc_late(np.array([6.0, 6.0, 6.0, 6.0]), ready, 4.0, 1.25)
    assert late[0] < 1e-3 and late[3] == 0.0
    busy = mdc_late(np.full(4, 11.5), np.full(4, 3.0), 4.0, 1.25)
    assert 0.05 < busy[0] < 1


def test_light_load_meets_everything_in_every_mode(tmp_path: Path) -> None:
    scen, demand = _scenario(tmp_path), np.full(60, 4.0)
    run = _run(demand, 3)
    modes: tuple[Queueing, ...] = ("fluid", "timed", "mdc")
    for mode in modes:
        assert _slo(scen, demand, run, mode) == pytest.approx(1.0, abs=1e-3)


def test_timed_is_stricter_than_whole_seconds_when_a_queue_builds(tmp_path: Path) -> None:
    scen = _scenario(tmp_path)
    demand = np.concatenate([np.full(20, 8.0), np.full(10, 20.0), np.full(30, 8.0)])
    run = _run(demand, 3)  # 12 req/s of capacity: the 20 req/s spell queues
    fluid, timed, mdc = (_slo(scen, demand, run, mode) for mode in ("fluid", "timed", "mdc"))
    assert mdc <= timed < fluid < 1.0
    assert summarize(scen, demand, run) == summarize(scen, demand, run, queueing="fluid")
