"""Built-in forecasters that need no training: ``seasonal-naive``.

Seasonal-naive says "the next minutes look like the same minutes one season ago". It is
the baseline every learned forecaster is measured against (``forescale backtest``) and the
fallback while history is too short to train on.
"""

from __future__ import annotations

import math

import numpy as np

from forescale.core.model import Forecast, ForecastPoint
from forescale.prescaler.base import RateSeries, register

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
# Residuals are taken over the last day: recent enough to follow the level, long enough
# (1440 points at 1-min steps) for stable tail quantiles.
RESIDUAL_WINDOW_S = DAY_S
MIN_RESIDUALS = 10


def choose_season(history: RateSeries, horizon_s: float) -> float | None:
    """Weekly when two weeks are known (one to look back on, one for residuals), else daily
    when over one day is known, else None (too little history)."""
    span = len(history.values) * history.step_s
    if span >= 2 * WEEK_S:
        return WEEK_S
    if span >= DAY_S + max(horizon_s, history.step_s):
        return DAY_S
    return None


def seasonal_lag_steps(season_s: float, step_s: float) -> int:
    return max(1, round(season_s / step_s))


def seasonal_residuals(values: np.ndarray, lag: int, window: int) -> np.ndarray:
    """``y[t] - y[t - lag]`` over the last ``window`` points, gaps (NaN) dropped."""
    if len(values) <= lag:
        return np.empty(0)
    recent = values[lag:][-window:]
    before = values[:-lag][-window:]
    res = recent - before
    return res[np.isfinite(res)]


def seasonal_point_values(values: np.ndarray, lag: int, first_idx: int, steps: int) -> np.ndarray:
    """The value one season (or as many whole seasons as needed) before each future index.

    ``first_idx`` is the index of the first forecast step relative to ``values`` (``>= len``).
    A step whose season-ago value is a gap falls back one more season, then stays NaN.
    """
    out = np.full(steps, np.nan)
    n = len(values)
    for k in range(steps):
        idx = first_idx + k - lag
        while idx >= n:  # horizon longer than a season: look back further
            idx -= lag
        for back in (idx, idx - lag):
            if 0 <= back < n and math.isfinite(values[back]):
                out[k] = values[back]
                break
    return out


def forecast_steps(history: RateSeries, now: float, horizon_s: float) -> tuple[int, int]:
    """(index of the step starting at or after ``now``, number of steps to cover the horizon)."""
    first = math.ceil((now - history.start) / history.step_s - 1e-9)
    steps = max(1, math.ceil(horizon_s / history.step_s - 1e-9))
    return first, steps


def quantile_forecast(
    history: RateSeries,
    now: float,
    first: int,
    base: np.ndarray,
    offsets: np.ndarray,
    quantiles: tuple[float, ...],
    source: str,
) -> Forecast | None:
    """Forecast from per-step point values ``base`` and per-quantile offsets (additive)."""
    points = []
    for k, value in enumerate(base):
        if not math.isfinite(value):
            continue
        rps = tuple(max(0.0, float(value + off)) for off in offsets)
        points.append(ForecastPoint(t=history.start + (first + k) * history.step_s, rps=rps))
    if not points:
        return None
    return Forecast(
        source=source, issued_at=now, step_s=history.step_s, quantiles=quantiles, points=tuple(points)
    )


class SeasonalNaive:
    """Value one season ago; quantiles from the empirical distribution of the last day's
    seasonal-naive residuals (so the band is as wide as this baseline's recent errors)."""

    name = "seasonal-naive"

    def fit(self, history: RateSeries) -> None:
        """Nothing to learn."""

    def forecast(
        self, history: RateSeries, now: float, horizon_s: float, quantiles: tuple[float, ...]
    ) -> Forecast | None:
        season = choose_season(history, horizon_s)
        if season is None:
            return None
        lag = seasonal_lag_steps(season, history.step_s)
        first, steps = forecast_steps(history, now, horizon_s)
        base = seasonal_point_values(history.values, lag, first, steps)
        window = max(1, round(RESIDUAL_WINDOW_S / history.step_s))
        res = seasonal_residuals(history.values, lag, window)
        # Too few residuals for a distribution: a point forecast at every quantile.
        offsets = np.quantile(res, quantiles) if len(res) >= MIN_RESIDUALS else np.zeros(len(quantiles))
        return quantile_forecast(history, now, first, base, offsets, quantiles, self.name)


@register("seasonal-naive")
def _seasonal_naive() -> SeasonalNaive:
    return SeasonalNaive()
