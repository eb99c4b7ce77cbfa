"""seasonal-naive: the baseline forecaster (table-driven, synthetic series only)."""

from __future__ import annotations

import numpy as np
import pytest

from forescale.prescaler.base import FORECASTERS, RateSeries, get_forecaster
from forescale.prescaler.forecasters import DAY_S, WEEK_S, choose_season

START = 1_700_006_400.0  # a UTC midnight
STEP = 60.0


def daily_series(days: float, noise: float = 0.0, seed: int = 0) -> RateSeries:
    n = int(days * DAY_S / STEP)
    t = np.arange(n) * STEP
    values = 50 + 30 * np.sin(2 * np.pi * t / DAY_S)
    values += np.random.default_rng(seed).normal(0, noise, n)
    return RateSeries(START, STEP, np.maximum(values, 0))


def test_registered_by_name() -> None:
    assert "seasonal-naive" in FORECASTERS
    assert get_forecaster("seasonal-naive").name == "seasonal-naive"


def test_unknown_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown forecaster"):
        get_forecaster("no-such")


@pytest.mark.parametrize(
    ("days", "season"),
    [(0.5, None), (1.0, None), (1.1, DAY_S), (13.9, DAY_S), (14.0, WEEK_S), (28.0, WEEK_S)],
)
def test_season_choice(days: float, season: float | None) -> None:
    assert choose_season(daily_series(days), horizon_s=600) == season


def test_too_little_history_gives_none() -> None:
    history = daily_series(0.5)
    assert get_forecaster("seasonal-naive").forecast(history, history.end, 600, (0.5, 0.9)) is None


def test_forecast_repeats_yesterday_without_noise() -> None:
    history = daily_series(3)
    now = history.end
    fc = get_forecaster("seasonal-naive").forecast(history, now, 600, (0.5, 0.9))
    assert fc is not None
    assert fc.issued_at == now and fc.step_s == STEP and fc.quantiles == (0.5, 0.9)
    assert [p.t for p in fc.points] == [now + k * STEP for k in range(10)]
    lag = int(DAY_S / STEP)
    n = len(history.values)
    for k, point in enumerate(fc.points):
        expected = history.values[n + k - lag]
        assert point.rps == pytest.approx((expected, expected))


def test_quantiles_widen_with_noise_and_stay_ordered() -> None:
    history = daily_series(3, noise=5.0)
    fc = get_forecaster("seasonal-naive").forecast(history, history.end, 600, (0.1, 0.5, 0.9))
    assert fc is not None
    for point in fc.points:
        lo, mid, hi = point.rps
        assert 0 <= lo <= mid <= hi
        # residuals of two N(0, 5) draws: the 10-90 % band is about 2 * 1.28 * 7 = 18 wide
        assert 10 < hi - lo < 30


def test_gap_falls_back_one_more_season_and_never_returns_nan() -> None:
    history = daily_series(3)
    lag = int(DAY_S / STEP)
    values = history.values.copy()
    n = len(values)
    values[n - lag : n - lag + 5] = np.nan  # yesterday's first 5 minutes of the horizon lost
    gappy = RateSeries(history.start, STEP, values)
    fc = get_forecaster("seasonal-naive").forecast(gappy, gappy.end, 600, (0.5,))
    assert fc is not None and len(fc.points) == 10
    assert all(np.isfinite(p.rps[0]) for p in fc.points)
    # two days ago is the same on a noiseless daily series
    assert fc.points[0].rps[0] == pytest.approx(values[n - 2 * lag])


def test_all_gap_history_gives_none() -> None:
    history = RateSeries(START, STEP, np.full(3 * 1440, np.nan))
    assert get_forecaster("seasonal-naive").forecast(history, history.end, 600, (0.9,)) is None


def test_forecast_is_never_negative() -> None:
    history = RateSeries(START, STEP, np.r_[np.full(1440, 100.0), np.zeros(1440)])
    fc = get_forecaster("seasonal-naive").forecast(history, history.end, 600, (0.1, 0.9))
    assert fc is not None
    assert all(v >= 0 for p in fc.points for v in p.rps)
