"""``level-qr``: linear quantile regression of the next steps on the recent level.

On bursty traffic the best single predictor of the next ten minutes is how busy the last
few minutes were: a quantile that is a straight line in exponential averages of the rate
(time constants 3, 10 and 30 minutes, the same as gbq's recent-level features) scored
better in the backtest than the boosted trees, ETS and ARIMA alone (docs/designs/prescaler.md).
Boosted trees approximate such a line with steps, coarsely where the data are few (the
busy minutes that decide a p90), so gbq mixes this model in rather than learning it.

Per quantile ``q``: ``rate[i + h] ~ (b + B . L[i]) + (h / H) (c + C . L[i])``, where ``L[i]``
are the averages at the origin ``i`` (the last known step) and ``H`` the longest horizon
trained (20 min): eight coefficients fitted by minimising the pinball loss (a linear
programme, HiGHS) on up to 2,000 (origin, random horizon) rows of the last 3 days. Only
steps up to the origin enter a row (no look-ahead); gaps are carried forward for the
averages and rows whose target is a gap are dropped. Rates in req/s, no transform: the
relation to the recent level is close to proportional in rate space.
"""

from __future__ import annotations

import math

import numpy as np

from forescale.core.model import Forecast, ForecastPoint
from forescale.prescaler.base import RateSeries, register
from forescale.prescaler.features import DAY_S, ewm_levels
from forescale.prescaler.forecasters import forecast_steps

MIN_ROWS = 100


def recent_levels(values: np.ndarray, step_s: float) -> np.ndarray:
    """Exponential averages of ``values`` at each of ``EWM_S``, one column each; a gap
    repeats the last known value (0 before the first one)."""
    v = np.asarray(values, dtype=float)
    known = np.isfinite(v)
    if not known.all():
        idx = np.where(known, np.arange(len(v)), -1)
        np.maximum.accumulate(idx, out=idx)
        v = np.where(idx >= 0, v[np.maximum(idx, 0)], 0.0)
    return ewm_levels(v, step_s)


def design(levels: np.ndarray, h_frac: np.ndarray) -> np.ndarray:
    """Rows ``[1, L, h/H, (h/H) L]`` for levels ``L`` (one row each) and horizons ``h/H``."""
    base = np.column_stack([np.ones(len(levels)), levels])
    return np.column_stack([base, base * h_frac[:, None]])


def quantile_regression(x: np.ndarray, y: np.ndarray, q: float) -> np.ndarray | None:
    """Coefficients minimising the ``q`` pinball loss of ``x @ b`` against ``y`` (None when
    the solver fails): ``min q 1'u + (1 - q) 1'v`` with ``x b + u - v = y``, ``u, v >= 0``."""
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix, hstack, identity

    n, p = x.shape
    cost = np.concatenate([np.zeros(p), np.full(n, q), np.full(n, 1.0 - q)])
    a_eq = hstack([csr_matrix(x), identity(n), -identity(n)]).tocsr()
    bounds = [(None, None)] * p + [(0.0, None)] * (2 * n)
    res = linprog(cost, A_eq=a_eq, b_eq=y, bounds=bounds, method="highs")
    return np.asarray(res.x[:p]) if res.status == 0 else None


class RecentLevelQuantiles:
    name = "level-qr"

    def __init__(
        self,
        quantiles: tuple[float, ...] = (0.5, 0.9),
        max_horizon_s: float = 1_200.0,
        history_s: float = 3 * DAY_S,
        max_rows: int = 2_000,
        seed: int = 0,
    ) -> None:
        self.quantiles = quantiles
        self.max_horizon_s = max_horizon_s
        self.history_s = history_s
        self.max_rows = max_rows
        self.seed = seed
        self.step_s: float | None = None
        self.rows: tuple[np.ndarray, np.ndarray] | None = None  # kept: a new quantile trains later
        self.coefs: dict[float, np.ndarray | None] = {}

    def _max_h(self, step_s: float) -> int:
        return max(1, math.ceil(self.max_horizon_s / step_s))

    def fit(self, history: RateSeries) -> None:
        """Fit on the last ``history_s``; too little known data leaves it untrained."""
        self.step_s, self.rows, self.coefs = None, None, {}
        step, n = history.step_s, len(history.values)
        max_h = self._max_h(step)
        origins = np.arange(max(0, n - max(1, round(self.history_s / step))), n - max_h)
        if len(origins) == 0:
            return
        rng = np.random.default_rng(self.seed)
        horizons = rng.integers(1, max_h + 1, len(origins))
        keep = np.flatnonzero(np.isfinite(history.values[origins + horizons]))
        if len(keep) > self.max_rows:
            keep = np.sort(rng.choice(keep, self.max_rows, replace=False))
        if len(keep) < MIN_ROWS:
            return
        levels = recent_levels(history.values, step)
        o, h = origins[keep], horizons[keep]
        self.rows = (design(levels[o], h / max_h), history.values[o + h])
        self.step_s = step
        for q in self.quantiles:
            self.coefs[q] = quantile_regression(*self.rows, q)

    def forecast(
        self, history: RateSeries, now: float, horizon_s: float, quantiles: tuple[float, ...]
    ) -> Forecast | None:
        if self.rows is None or self.step_s != history.step_s or len(history.values) == 0:
            return None
        for q in quantiles:
            if q not in self.coefs:
                self.coefs[q] = quantile_regression(*self.rows, q)
        coefs = [self.coefs[q] for q in quantiles]
        if any(c is None for c in coefs):
            return None
        step, origin = history.step_s, len(history.values) - 1
        first, nsteps = forecast_steps(history, now, horizon_s)
        max_h = self._max_h(step)
        # Beyond the longest horizon trained, the last one's line (no extrapolation in h).
        h = np.minimum(np.arange(first, first + nsteps) - origin, max_h)
        level = recent_levels(history.values, step)[-1]
        x = design(np.tile(level, (nsteps, 1)), h / max_h)
        rates = np.column_stack([x @ c for c in coefs if c is not None])
        order = sorted(range(len(quantiles)), key=lambda k: quantiles[k])
        rates[:, order] = np.maximum.accumulate(rates[:, order], axis=1)  # a higher q never lower
        rates = np.maximum(rates, 0.0)
        points = tuple(
            ForecastPoint(t=history.start + (first + k) * step, rps=tuple(map(float, rates[k])))
            for k in range(nsteps)
        )
        return Forecast(source=self.name, issued_at=now, step_s=step, quantiles=quantiles, points=points)


@register("level-qr")
def _level_qr() -> RecentLevelQuantiles:
    return RecentLevelQuantiles()
