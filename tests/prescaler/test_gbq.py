"""gbq, the learned forecaster, on synthetic Poisson series with daily and weekly cycles."""

from __future__ import annotations

import numpy as np
import pytest

from forescale.prescaler.base import RateSeries, get_forecaster
from forescale.prescaler.gbq import GradientBoostedQuantiles, conformal_offset

START = 1_700_006_400.0
STEP = 300.0  # 5-minute steps keep these fits well under a second
DAY = 86_400.0


def expected_rate(t: np.ndarray) -> np.ndarray:
    day = 1 + 0.8 * np.sin(2 * np.pi * t / DAY)
    weekend = np.where(((t - START) // DAY) % 7 >= 5, 0.4, 1.0)
    return 2.0 * day * weekend


def poisson_series(days: float, seed: int = 0) -> RateSeries:
    t = START + np.arange(int(days * DAY / STEP)) * STEP
    counts = np.random.default_rng(seed).poisson(expected_rate(t) * STEP)
    return RateSeries(START, STEP, counts / STEP)


def test_registered_and_sklearn_loaded_only_on_fit() -> None:
    model = get_forecaster("gbq")
    assert model.name == "gbq" and isinstance(model, GradientBoostedQuantiles)


def test_learned_forecast_tracks_the_cycle_with_calibrated_p90() -> None:
    full = poisson_series(18)
    split = START + 16 * DAY  # calibration (days 14-15) and test days are weekdays
    model = GradientBoostedQuantiles(max_horizon_s=1800)
    model.fit(full.until(split))
    assert model.trained is not None
    covered, total, errors = 0, 0, []
    for now in np.arange(split, full.end - 1800, 1800):
        fc = model.forecast(full.until(now), now, 1800, (0.5, 0.9))
        assert fc is not None and fc.source == "gbq" and len(fc.points) == 6
        for p in fc.points:
            actual = full.values[round((p.t - START) / STEP)]
            assert 0 <= p.rps[0] <= p.rps[1]
            covered += actual <= p.rps[1]
            total += 1
            errors.append(p.rps[0] - expected_rate(np.array([p.t + STEP / 2]))[0])
    assert 0.8 <= covered / total <= 0.97
    assert abs(float(np.median(errors))) < 0.3  # p50 close to the true rate (about 0.4-3.6 req/s)


def test_short_history_falls_back_to_seasonal_naive_then_none() -> None:
    model = GradientBoostedQuantiles()
    short = poisson_series(1.9)  # under 2 days: a day to train on and a day to calibrate
    model.fit(short)
    assert model.trained is None
    fc = model.forecast(short, short.end, 600, (0.5, 0.9))
    assert fc is not None and fc.source == "seasonal-naive"
    half_day = poisson_series(0.5)
    model.fit(half_day)
    assert model.forecast(half_day, half_day.end, 600, (0.5, 0.9)) is None


def test_two_days_of_history_are_enough_to_train() -> None:
    model = GradientBoostedQuantiles(max_iter=30)
    model.fit(poisson_series(2))
    assert model.trained is not None


def test_a_gap_in_history_still_trains_and_forecasts_finite_values() -> None:
    series = poisson_series(6)
    values = series.values.copy()
    values[int(2 * DAY / STEP) : int(3.5 * DAY / STEP)] = np.nan  # a day and a half lost
    values[-3:] = np.nan  # and the last quarter hour before now
    gappy = RateSeries(START, STEP, values)
    model = GradientBoostedQuantiles(max_horizon_s=1800, max_iter=30)
    model.fit(gappy)
    assert model.trained is not None
    fc = model.forecast(gappy, gappy.end, 1800, (0.5, 0.9))
    assert fc is not None and fc.source == "gbq"
    assert all(np.isfinite(v) and v >= 0 for p in fc.points for v in p.rps)


def test_a_quantile_not_trained_is_trained_on_demand() -> None:
    series = poisson_series(5)
    model = GradientBoostedQuantiles(quantiles=(0.5,), max_horizon_s=900, max_iter=30)
    model.fit(series)
    fc = model.forecast(series, series.end, 900, (0.5, 0.99))
    assert fc is not None and fc.quantiles == (0.5, 0.99)
    assert all(p.rps[0] <= p.rps[1] for p in fc.points)


def test_step_mismatch_falls_back() -> None:
    model = GradientBoostedQuantiles(max_horizon_s=900, max_iter=30)
    model.fit(poisson_series(5))
    other = RateSeries(START, 60.0, np.ones(3 * 1440))
    fc = model.forecast(other, other.end, 600, (0.9,))
    assert fc is not None and fc.source == "seasonal-naive"


@pytest.mark.parametrize(
    ("scores", "q", "offset"),
    [
        (np.arange(-9.0, 1.0), 0.5, -4.0),  # 10 scores: level 0.55 -> 6th smallest
        (np.zeros(100), 0.9, 0.0),
        (np.arange(1.0, 11.0), 0.9, 10.0),  # (n+1)/n correction reaches the max
    ],
)
def test_conformal_offset(scores: np.ndarray, q: float, offset: float) -> None:
    assert conformal_offset(scores, q) == offset
