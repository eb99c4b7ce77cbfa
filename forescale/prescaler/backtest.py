"""Rolling-origin backtest: a forecaster against seasonal-naive on the same points.

At each origin ``t`` (every ``every_s``) both forecasters see ``series.until(t)`` and
nothing after it; the learned one is refitted on that same past every ``refit_s``. Each
forecast step in ``[t, t + horizon)`` is scored against what arrived in that step. A point
counts only where both forecasters answered and the actual value is not a gap, so the
two losses are over exactly the same points.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

import forescale.prescaler.baselines  # noqa: F401  (registers arima and ets)
from forescale.core.model import Forecast
from forescale.prescaler.base import RateSeries, get_forecaster
from forescale.prescaler.forecasters import DAY_S


@dataclass(frozen=True)
class BacktestResult:
    forecaster: str
    quantile: float
    horizon_s: float
    step_s: float
    points: int
    pinball_loss: float
    seasonal_naive_pinball_loss: float
    ratio: float
    coverage: float
    seasonal_naive_coverage: float
    mape: float
    seasonal_naive_mape: float

    def summary(self) -> dict[str, float | int]:
        """The ``--json`` line's contract fields."""
        return {
            "pinball_loss": self.pinball_loss,
            "seasonal_naive_pinball_loss": self.seasonal_naive_pinball_loss,
            "ratio": self.ratio,
            "coverage": self.coverage,
            "points": self.points,
        }

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def pinball(y: np.ndarray, f: np.ndarray, q: float) -> float:
    """Mean pinball (quantile) loss of forecasts ``f`` of the ``q`` quantile."""
    d = y - f
    return float(np.mean(np.maximum(q * d, (q - 1) * d))) if len(y) else math.nan


def mape(y: np.ndarray, f: np.ndarray) -> float:
    """Mean absolute percentage error of the median forecast, over non-zero actuals (a zero
    actual has no percentage error)."""
    nz = y > 0
    return float(np.mean(np.abs(y[nz] - f[nz]) / y[nz])) if nz.any() else math.nan


def _values(fc: Forecast, k: int) -> dict[float, float]:
    return {p.t: p.rps[k] for p in fc.points}


def backtest(
    series: RateSeries,
    forecaster: str = "gbq",
    horizon_s: float = 600.0,
    quantile: float = 0.9,
    every_s: float | None = None,
    refit_s: float = DAY_S,
    warmup_s: float = DAY_S,
    progress: Callable[[float], None] | None = None,
) -> BacktestResult:
    """Score ``forecaster`` and seasonal-naive at origins from ``start + warmup_s`` on;
    ``progress(fraction)`` after each origin (the CLI's progress bar)."""
    model, naive = get_forecaster(forecaster), get_forecaster("seasonal-naive")
    quantiles = (0.5, quantile) if quantile != 0.5 else (0.5,)
    qi = len(quantiles) - 1
    every = every_s or horizon_s
    step = series.step_s
    rows: list[tuple[float, float, float, float, float]] = []
    fitted_at = -math.inf
    t = series.start + math.ceil(warmup_s / step) * step
    first, last = t, series.end - horizon_s
    while t + horizon_s <= series.end:
        past = series.until(t)
        if t - fitted_at >= refit_s:
            model.fit(past)
            fitted_at = t
        fc = model.forecast(past, t, horizon_s, quantiles)
        sn = naive.forecast(past, t, horizon_s, quantiles)
        if fc is not None and sn is not None:
            rows += _score_rows(series, fc, sn, qi)
        t += every
        if progress is not None:
            progress(min(1.0, (t - first) / max(last - first, step)))
    return _result(forecaster, quantile, horizon_s, step, np.array(rows).reshape(-1, 5))


def _score_rows(
    series: RateSeries, fc: Forecast, sn: Forecast, qi: int
) -> list[tuple[float, float, float, float, float]]:
    """(actual, forecast q, forecast p50, naive q, naive p50) for steps both answered."""
    fq, f50, sq, s50 = _values(fc, qi), _values(fc, 0), _values(sn, qi), _values(sn, 0)
    out = []
    for t in sorted(fq.keys() & sq.keys()):
        idx = round((t - series.start) / series.step_s)
        if 0 <= idx < len(series.values) and math.isfinite(series.values[idx]):
            out.append((float(series.values[idx]), fq[t], f50[t], sq[t], s50[t]))
    return out


def _result(name: str, q: float, horizon_s: float, step_s: float, rows: np.ndarray) -> BacktestResult:
    y, fq, f50, sq, s50 = rows.T
    loss, sn_loss = pinball(y, fq, q), pinball(y, sq, q)
    return BacktestResult(
        forecaster=name,
        quantile=q,
        horizon_s=horizon_s,
        step_s=step_s,
        points=len(y),
        pinball_loss=loss,
        seasonal_naive_pinball_loss=sn_loss,
        ratio=loss / sn_loss if sn_loss > 0 else math.nan,
        coverage=float(np.mean(y <= fq)) if len(y) else math.nan,
        seasonal_naive_coverage=float(np.mean(y <= sq)) if len(y) else math.nan,
        mape=mape(y, f50),
        seasonal_naive_mape=mape(y, s50),
    )
