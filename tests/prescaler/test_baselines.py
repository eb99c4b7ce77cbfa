"""ARIMA and ETS baselines (statsmodels): forecasts, and the backtest against them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forescale.prescaler.base import RateSeries, get_forecaster
from forescale.prescaler.baselines import compare


def ar_series(days: float, step_s: float = 300.0, seed: int = 0) -> RateSeries:
    """A daily cycle plus AR(1) noise: something short-term models can follow."""
    rng = np.random.default_rng(seed)
    n = int(days * 86400 / step_s)
    t = np.arange(n) * step_s
    noise = np.zeros(n)
    for i in range(1, n):
        noise[i] = 0.8 * noise[i - 1] + rng.normal(0, 2)
    return RateSeries(0.0, step_s, 40 + 20 * np.sin(2 * np.pi * t / 86400) + noise)


@pytest.mark.parametrize("name", ["arima", "ets"])
def test_baseline_forecasts_follow_the_level_with_ordered_quantiles(name: str) -> None:
    s = ar_series(1.0)
    now = 20 * 3600.0
    past = s.until(now)
    f = get_forecaster(name)
    f.fit(past)
    fc = f.forecast(past, now, 1800, (0.5, 0.9))
    assert fc is not None and fc.source == name
    assert [p.t for p in fc.points] == [now, now + 300, now + 600, now + 900, now + 1200, now + 1500]
    last = float(past.values[-1])
    for p in fc.points:
        assert p.rps[1] > p.rps[0] >= 0
        assert abs(p.rps[0] - last) < 15  # near the current level, not the series mean
    assert f.forecast(RateSeries(0.0, 300.0, np.ones(5)), 1500.0, 600, (0.5,)) is None  # too short


def test_compare_scores_against_seasonal_naive_and_both_baselines() -> None:
    out = compare(ar_series(2.0), "seasonal-naive", horizon_s=600, quantile=0.9, every_s=3600)
    assert set(out["losses"]) == {"seasonal-naive", "arima", "ets"}
    assert out["points"] > 20
    # On AR noise a model of the last hours beats "the same time yesterday".
    assert out["losses"]["arima"] < out["losses"]["seasonal-naive"]
    assert out["best_baseline"] in ("arima", "ets")
    assert out["ratio_to_best"] > 1
    assert all(0 <= c <= 1 for c in out["coverages"].values())
    assert math.isfinite(out["pinball_loss"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quick_arima_forecasts_as_the_state_space_filter_does(seed: int) -> None:
    from forescale.prescaler.baselines import Arima, QuickArima

    s = ar_series(1.0, step_s=60.0, seed=seed)
    full, quick = Arima(), QuickArima()
    full.fit(s.until(12 * 3600.0))
    quick.params = full.params  # the same fit; only the forecast differs
    for now in (12 * 3600.0, 15 * 3600.0, 20 * 3600.0):
        past = s.until(now)
        a, b = (m.forecast(past, now, 1200, (0.5, 0.9)) for m in (full, quick))
        assert a is not None and b is not None and len(a.points) == len(b.points) == 20
        for pa, pb in zip(a.points, b.points, strict=True):
            assert pa.t == pb.t and pb.rps == pytest.approx(pa.rps, rel=1e-3)
