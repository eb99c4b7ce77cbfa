"""``level-qr``: linear quantile regression of the next steps on the recent level."""

from __future__ import annotations

import numpy as np
import pytest

from forescale.prescaler.base import RateSeries, get_forecaster
from forescale.prescaler.levels import RecentLevelQuantiles, quantile_regression, recent_levels
from tests.prescaler.test_gbq import START, STEP, poisson_series

Q = (0.5, 0.9)


@pytest.mark.parametrize(
    ("x", "y", "q", "low", "high"),
    [
        # A constant alone: any value between the two order statistics around q minimises it.
        (np.ones((10, 1)), np.arange(1.0, 11.0), 0.9, [9.0], [10.0]),
        (np.ones((10, 1)), np.arange(1.0, 11.0), 0.5, [5.0], [6.0]),
        # An exact line is recovered whatever the quantile.
        (np.column_stack([np.ones(6), np.arange(6.0)]), 1 + 2 * np.arange(6.0), 0.9, [1, 2], [1, 2]),
    ],
)
def test_quantile_regression(
    x: np.ndarray, y: np.ndarray, q: float, low: list[float], high: list[float]
) -> None:
    b = quantile_regression(x, y, q)
    assert b is not None
    assert np.all(b >= np.array(low) - 1e-9) and np.all(b <= np.array(high) + 1e-9)


def test_recent_levels_carry_a_gap_forward() -> None:
    gappy = recent_levels(np.array([1.0, np.nan, np.nan, 3.0]), 60.0)
    filled = recent_levels(np.array([1.0, 1.0, 1.0, 3.0]), 60.0)
    assert np.array_equal(gappy, filled) and gappy.shape == (4, 3)
    assert recent_levels(np.array([np.nan, 2.0]), 60.0)[0].tolist() == [0.0, 0.0, 0.0]


def busy_then_quiet(busy_last: bool) -> RateSeries:
    """Four days of 5-min steps whose level switches every 2 hours between 0.5 and 4 req/s."""
    n = int(4 * 86_400 / STEP)
    level = np.where((np.arange(n) // 24) % 2 == 0, 0.5, 4.0)
    if (level[-1] == 4.0) != busy_last:
        level = np.where(level == 4.0, 0.5, 4.0)
    counts = np.random.default_rng(1).poisson(level * STEP)
    return RateSeries(START, STEP, counts / STEP)


def test_the_quantiles_follow_the_recent_level() -> None:
    busy, quiet = busy_then_quiet(True), busy_then_quiet(False)
    model = get_forecaster("level-qr")
    assert isinstance(model, RecentLevelQuantiles)
    model.fit(busy)
    hi, lo = (model.forecast(h, h.end, 600, Q) for h in (busy, quiet))
    assert hi is not None and lo is not None and hi.source == "level-qr" and len(hi.points) == 2
    assert hi.points[0].t == busy.end
    for p_hi, p_lo in zip(hi.points, lo.points, strict=True):
        assert 0 <= p_lo.rps[0] <= p_lo.rps[1] < p_hi.rps[1] and p_hi.rps[0] <= p_hi.rps[1]
        assert 2.5 < p_hi.rps[1] < 6 and p_lo.rps[1] < 2.5


def test_steps_beyond_the_longest_horizon_trained_repeat_its_line() -> None:
    series = poisson_series(4)
    model = RecentLevelQuantiles(max_horizon_s=1200)  # 4 steps of 5 min
    model.fit(series)
    fc = model.forecast(series, series.end, 3600, (0.9,))
    assert fc is not None and len(fc.points) == 12
    assert all(p.rps == fc.points[3].rps for p in fc.points[4:])


def test_too_little_history_or_another_step_says_nothing() -> None:
    model = RecentLevelQuantiles()
    model.fit(poisson_series(0.25))  # 72 steps: under 100 rows
    assert model.forecast(poisson_series(0.25), poisson_series(0.25).end, 600, Q) is None
    model.fit(poisson_series(2))
    other = RateSeries(START, 60.0, np.ones(3 * 1440))
    assert model.forecast(other, other.end, 600, Q) is None
    series = poisson_series(2)
    fc = model.forecast(series, series.end, 600, (0.5, 0.99))  # a new quantile trains on demand
    assert fc is not None and all(p.rps[0] <= p.rps[1] for p in fc.points)
