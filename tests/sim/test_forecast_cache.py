"""Forecasts shared between runs on the same demand (forescale/sim/forecast_cache.py)."""

from __future__ import annotations

import numpy as np
from sim_helpers import START, base_scenario, scenario

import forescale.sim.policies as policies
from forescale.sim.engine import Simulation
from forescale.sim.forecast_cache import shared_forecasts
from forescale.sim.metrics import summarize
from forescale.sim.policies import CorePolicy
from forescale.sim.run import run_policy
from forescale.traces.synthetic import Workload, synthetic_trace


def _demand(days: float) -> np.ndarray:
    trace = synthetic_trace(days * 86400, Workload(mean_rps=3.0), kind="requests", seed=3)
    return np.nan_to_num(trace.rate_series(1.0).values)


def test_a_run_with_shared_forecasts_decides_as_one_that_makes_its_own() -> None:
    # 1.3 days: seasonal-naive answers from the second day on, so the floor acts
    sc = scenario(base_scenario(tick_s=30, policy={"target_rps_per_replica": 0.8, "max_replicas": 50}))
    demand = _demand(1.3)
    history = policies.minute_history(demand, START)
    shared = shared_forecasts("seasonal-naive", history)
    assert shared_forecasts("seasonal-naive", policies.minute_history(demand.copy(), START)) is shared

    first = run_policy("forescale", sc, demand, START, 50, "seasonal-naive", 3600.0)
    asked = dict(shared.answers)
    assert any(a is not None for a in asked.values())  # it did forecast
    again = run_policy("forescale", sc, demand, START, 50, "seasonal-naive", 3600.0)
    assert shared.answers == asked  # nothing new was made: every answer was read back

    own = Simulation(sc, demand, START).run(
        CorePolicy("forescale", sc, "seasonal-naive", 3600.0, share=False)
    )
    rows = [summarize(sc, demand, r) for r in (first, again, own)]
    assert rows[0] == rows[1] == rows[2]
    assert np.array_equal(first.ready, own.ready)


def test_a_p50_question_is_answered_from_the_published_columns() -> None:
    demand = _demand(1.2)
    shared = shared_forecasts("seasonal-naive", policies.minute_history(demand, START))
    now = START + 86400 + 600
    both = shared.forecast(now, now, 600, (0.5, 0.9))
    p50 = shared.forecast(now, now, 600, (0.5,))
    assert both is not None and p50 is not None
    assert p50.quantiles == (0.5,) and len(shared.answers) == 1
    assert [p.rps[0] for p in p50.points] == [p.rps[0] for p in both.points]
    p99 = shared.forecast(now, now, 600, (0.5, 0.99))  # not published: asked as such
    assert p99 is not None and p99.quantiles == (0.5, 0.99) and len(shared.answers) == 2


def test_the_simulation_forecasts_with_what_the_prescaler_ships() -> None:
    from forescale.prescaler.settings import PrescalerSettings
    from forescale.sim.defaults import SHIPPED_FORECASTER

    assert PrescalerSettings.model_fields["forecaster"].default == SHIPPED_FORECASTER
