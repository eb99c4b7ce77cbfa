"""``gbq``: gradient-boosted quantile regression, the learned forecaster.

One scikit-learn ``HistGradientBoostingRegressor(loss="quantile")`` per quantile, direct
multi-horizon (the horizon is a feature, so one model serves every step of the horizon),
trained in a variance-stabilising space (``sqrt`` of the count per step by default: the
Anscombe transform of a Poisson count; ``log1p`` is the alternative). Quantiles survive a
monotone transform, so a quantile of ``z`` maps back to the same quantile of the rate.

Each quantile is then conformally calibrated on the last ``calibration_s`` (1 day) of history,
held out from training: the offset that makes the held-out coverage equal the quantile.
Boosted quantile trees are often over- or under-confident on bursty traffic; this is
what keeps p90 coverage near 0.9 (measured in docs/designs/prescaler.md).

With less than ``min_history_s`` (2 days: one to train on, one held out to calibrate) it
answers like ``seasonal-naive`` (which itself says nothing with under a day).

Its quantiles are then mixed with those of three short-memory models: ``level_weight`` of
``level-qr`` (linear quantile regression on the recent level, ``prescaler/levels.py``),
``ets_weight`` of damped Holt smoothing and ``arima_weight`` of ARIMA(1,1,1), the last two
fitted on the last two hours (``prescaler/baselines.py``). The trees on calendar and lag
features know the daily shape; the others know today's level and its spread, and the mix
scores better than any one of them (backtest on the Alibaba trace, p90 at 10 min,
docs/designs/prescaler.md: days 4-12 0.0414 trees alone, 0.0360 mixed 0.4 with ETS, 0.0342
with 0.3 ETS + 0.3 ARIMA, 0.031 with half level-qr). ``max_horizon_s``
is 20 min: the floor plans at most a lead time plus an SLO window ahead, and training every
horizon to an hour spread the rows thin (0.0478 -> 0.0421 on the same backtest); further
steps reuse the last horizon's trees.
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np

from forescale.core.model import Forecast, ForecastPoint
from forescale.prescaler.base import Forecaster, RateSeries, register
from forescale.prescaler.baselines import Ets, QuickArima
from forescale.prescaler.features import DAY_S, feature_matrix
from forescale.prescaler.forecasters import SeasonalNaive, forecast_steps
from forescale.prescaler.levels import RecentLevelQuantiles

Transform = Literal["sqrt", "log1p"]


def to_z(values: np.ndarray, step_s: float, transform: Transform) -> np.ndarray:
    count = np.maximum(values, 0.0) * step_s  # NaN stays NaN
    return np.sqrt(count) if transform == "sqrt" else np.log1p(count)


def from_z(z: np.ndarray, step_s: float, transform: Transform) -> np.ndarray:
    count = np.square(np.maximum(z, 0.0)) if transform == "sqrt" else np.expm1(np.maximum(z, 0.0))
    return count / step_s


@dataclass
class Trained:
    """What ``fit`` learned; kept whole so a quantile asked for later can be trained too."""

    step_s: float
    x_train: np.ndarray
    y_train: np.ndarray
    x_cal: np.ndarray
    y_cal: np.ndarray
    models: dict[float, Any] = field(default_factory=dict)
    offsets: dict[float, float] = field(default_factory=dict)


class GradientBoostedQuantiles:
    name = "gbq"

    def __init__(
        self,
        quantiles: tuple[float, ...] = (0.5, 0.9),
        transform: Transform = "sqrt",
        max_horizon_s: float = 1_200.0,
        min_history_s: float = 2 * DAY_S,
        calibration_s: float = DAY_S,
        max_rows: int = 40_000,
        max_iter: int = 60,
        threads: int | None = 1,
        seed: int = 0,
        ets_weight: float = 0.15,
        arima_weight: float = 0.15,
        level_weight: float = 0.5,
    ) -> None:
        self.quantiles = quantiles
        self.transform: Transform = transform
        self.max_horizon_s = max_horizon_s
        self.min_history_s = min_history_s
        self.calibration_s = calibration_s
        self.max_rows = max_rows
        self.max_iter = max_iter
        # One OpenMP thread by default: on a shared 2-core box, OpenMP's spin-waiting threads
        # made a fit 10x slower under load (docs/designs/prescaler.md); None = all cores.
        self.threads = threads
        self.seed = seed
        self.trained: Trained | None = None
        self.fallback = SeasonalNaive()
        weights = (ets_weight, arima_weight, level_weight)
        if not (all(w >= 0 for w in weights) and sum(weights) < 1):  # NaN fails too
            raise ValueError("ets_weight, arima_weight and level_weight must be >= 0 and sum to under 1")
        self.ets_weight, self.arima_weight, self.level_weight = weights
        # The short-memory models mixed in, with their weights (a zero weight: not fitted).
        others: tuple[Forecaster, ...] = (Ets(), QuickArima(), RecentLevelQuantiles(quantiles, max_horizon_s))
        self.mixed = tuple((w, m) for w, m in zip(weights, others, strict=True) if w > 0)

    # ------------------------------------------------------------------ training

    def fit(self, history: RateSeries) -> None:
        """Train on ``history`` (gaps allowed); too short a history leaves it untrained."""
        self.trained = None
        for _, other in self.mixed:
            other.fit(history)
        step = history.step_s
        n = len(history.values)
        if n * step < self.min_history_s:
            return
        z = to_z(history.values, step, self.transform)
        max_h = max(1, math.ceil(self.max_horizon_s / step))
        rng = np.random.default_rng(self.seed)
        # One random horizon per origin: every horizon is covered, rows stay ~ one per step.
        origins = np.arange(0, n - max_h)
        horizons = rng.integers(1, max_h + 1, len(origins))
        target = origins + horizons
        cal_from = n - max(1, round(self.calibration_s / step))
        # Calibrate on origins in the held-out tail; train only on targets before it.
        cal = np.flatnonzero((origins >= cal_from) & np.isfinite(z[target]))
        train = self._sample(np.flatnonzero((target < cal_from) & np.isfinite(z[target])), rng)
        if len(train) < 100:
            return
        x_train = feature_matrix(z, history.start, step, origins[train], horizons[train])
        # A lag with no data yet (week lag in the first week) is all-NaN, which sklearn's
        # binner rejects; a constant column is never split on, so 0 is neutral.
        x_train[:, np.isnan(x_train).all(axis=0)] = 0.0
        x_cal = feature_matrix(z, history.start, step, origins[cal], horizons[cal])
        self.trained = Trained(step, x_train, z[target[train]], x_cal, z[target[cal]])
        for q in self.quantiles:
            self._train_quantile(self.trained, q)

    def _sample(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """At most ``max_rows`` training rows, drawn uniformly (recency weighting measured
        worse, docs/designs/prescaler.md)."""
        if len(rows) > self.max_rows:
            return np.sort(rng.choice(rows, self.max_rows, replace=False))
        return rows

    def _train_quantile(self, tr: Trained, q: float) -> None:
        from sklearn.ensemble import HistGradientBoostingRegressor  # heavy: load on first fit

        model = HistGradientBoostingRegressor(
            loss="quantile",
            quantile=q,
            max_iter=self.max_iter,
            learning_rate=0.1,
            max_leaf_nodes=15,
            min_samples_leaf=50,
            early_stopping=False,
            random_state=self.seed,
        )
        with _openmp_limit(self.threads):
            model.fit(tr.x_train, tr.y_train)
        tr.models[q] = model
        tr.offsets[q] = conformal_offset(tr.y_cal - model.predict(tr.x_cal), q) if len(tr.y_cal) else 0.0

    # ---------------------------------------------------------------- forecasting

    def forecast(
        self, history: RateSeries, now: float, horizon_s: float, quantiles: tuple[float, ...]
    ) -> Forecast | None:
        tr = self.trained
        if tr is None or tr.step_s != history.step_s or len(history.values) == 0:
            early = self.fallback.forecast(history, now, horizon_s, quantiles)
            return self._blend(early, history, now, horizon_s, quantiles)
        for q in quantiles:
            if q not in tr.models:
                self._train_quantile(tr, q)
        z = to_z(history.values, history.step_s, self.transform)
        first, nsteps = forecast_steps(history, now, horizon_s)
        origin = len(z) - 1
        horizons = np.arange(first, first + nsteps) - origin
        x = feature_matrix(z, history.start, history.step_s, np.full(nsteps, origin), horizons)
        order = sorted(range(len(quantiles)), key=lambda k: quantiles[k])
        with _openmp_limit(self.threads):
            zq = np.column_stack([tr.models[q].predict(x) + tr.offsets[q] for q in quantiles])
        # Quantile models are separate: keep them from crossing (a higher q never lower).
        zq[:, order] = np.maximum.accumulate(zq[:, order], axis=1)
        rates = from_z(zq, history.step_s, self.transform)
        points = tuple(
            ForecastPoint(t=history.start + (first + k) * history.step_s, rps=tuple(map(float, rates[k])))
            for k in range(nsteps)
        )
        own = Forecast(
            source=self.name, issued_at=now, step_s=history.step_s, quantiles=quantiles, points=points
        )
        return self._blend(own, history, now, horizon_s, quantiles)

    def _blend(
        self, own: Forecast | None, history: RateSeries, now: float, horizon_s: float,
        quantiles: tuple[float, ...],
    ) -> Forecast | None:  # fmt: skip
        """``own`` mixed point by point with the short-memory models' forecasts, each at its
        weight; where one of them has no point the others' weights are scaled up to sum to 1
        (own alone where neither has one; nothing while ``own`` is nothing: under a day of
        history, as before). A weighted mean of monotone quantile columns stays monotone."""
        if own is None or not self.mixed:
            return own
        theirs: list[tuple[float, dict[float, tuple[float, ...]]]] = []
        for w, other in self.mixed:
            fc = other.forecast(history, now, horizon_s, quantiles)
            if fc is not None:
                theirs.append((w, {p.t: p.rps for p in fc.points}))
        if not theirs:
            return own
        own_w = 1.0 - sum(w for w, _ in self.mixed)
        points = []
        for p in own.points:
            parts = [(own_w, p.rps)] + [(w, by_t[p.t]) for w, by_t in theirs if p.t in by_t]
            total = sum(w for w, _ in parts)
            rps = tuple(sum(w * r[k] for w, r in parts) / total for k in range(len(quantiles)))
            points.append(ForecastPoint(t=p.t, rps=rps))
        return Forecast(
            source=own.source, issued_at=now, step_s=own.step_s, quantiles=quantiles, points=tuple(points)
        )


@functools.cache
def _controller() -> Any:
    """One scan of the loaded native libraries (a scan per call cost ~17 ms per forecast)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _openmp_limit(threads: int | None) -> contextlib.AbstractContextManager[object]:
    if threads is None:
        return contextlib.nullcontext()
    return cast(
        contextlib.AbstractContextManager[object], _controller().limit(limits=threads, user_api="openmp")
    )


def conformal_offset(scores: np.ndarray, q: float) -> float:
    """Additive shift so that a share ``q`` of held-out scores ``y - prediction`` is <= 0,
    with the usual (n+1)/n finite-sample correction."""
    n = len(scores)
    level = min(1.0, q * (n + 1) / n)
    return float(np.quantile(scores, level, method="higher"))


@register("gbq")
def _gbq() -> GradientBoostedQuantiles:
    return GradientBoostedQuantiles()
