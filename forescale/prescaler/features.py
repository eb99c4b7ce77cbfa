"""Features for the learned forecaster: one row per (origin, horizon step).

The origin ``i`` is the last complete step known; the target is step ``j = i + h``. Every
feature is computed from steps ``<= i`` (no look-ahead): the calendar position of ``j``
(daily and weekly Fourier terms), the level around ``j`` one day and one week earlier,
and the recent level (last step, last 10 minutes, last hour), plus the hour that ended at
``i`` one day earlier so the model can scale "yesterday" by "today so far".
All values are in the transformed (variance-stabilised) space; gaps stay NaN, which
scikit-learn's histogram gradient boosting routes natively.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
NARROW_S = 600.0  # level around a seasonal lag: +-5 minutes
WIDE_S = 3_600.0  # and +-30 minutes
RECENT_S = 600.0
HOUR_S = 3_600.0

FEATURE_NAMES = (
    "h_s",
    "day_sin1",
    "day_cos1",
    "day_sin2",
    "day_cos2",
    "day_sin3",
    "day_cos3",
    "week_sin1",
    "week_cos1",
    "week_sin2",
    "week_cos2",
    "day_lag_narrow",
    "day_lag_wide",
    "week_lag_narrow",
    "week_lag_wide",
    "last",
    "recent_10m",
    "recent_1h",
    "day_ago_1h",
    "recent_1h_sq",
    "day_lag_wide_sq",
    "ewm_3m",
    "ewm_10m",
    "ewm_30m",
    "max_30m",
)
EWM_S = (180.0, 600.0, 1_800.0)  # time constants of the recent-level averages
MAX_S = 1_800.0


class WindowMeans:
    """Mean of the finite values in ``[a, b]`` (inclusive indices), NaN when none: O(1) per
    query after one cumulative sum, so features for every origin cost a few array ops."""

    def __init__(self, z: np.ndarray) -> None:
        finite = np.isfinite(z)
        self.n = len(z)
        self.sum = np.concatenate([[0.0], np.cumsum(np.where(finite, z, 0.0))])
        self.count = np.concatenate([[0], np.cumsum(finite)])

    def mean(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Window means; windows reaching outside ``[0, n)`` are cut, empty ones are NaN."""
        lo = np.clip(a, 0, self.n)
        hi = np.clip(b + 1, 0, self.n)
        hi = np.maximum(hi, lo)
        cnt = self.count[hi] - self.count[lo]
        total = self.sum[hi] - self.sum[lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(cnt > 0, total / np.maximum(cnt, 1), np.nan)


def steps(seconds: float, step_s: float) -> int:
    return max(1, round(seconds / step_s))


def seasonal_lag(means: WindowMeans, j: np.ndarray, i: np.ndarray, lag: int, half: int) -> np.ndarray:
    """Mean around ``j - lag`` (+-half), never reaching past the origin ``i``."""
    centre = j - lag
    return means.mean(centre - half, np.minimum(centre + half, i))


def feature_matrix(
    z: np.ndarray,
    start: float,
    step_s: float,
    origins: np.ndarray,
    horizons: np.ndarray,
) -> np.ndarray:
    """Rows for ``(origins[k], horizons[k])``; ``origins`` are indices into ``z``."""
    means, squares = WindowMeans(z), WindowMeans(np.square(z))
    i = origins.astype(np.int64)
    j = i + horizons.astype(np.int64)
    t = start + (j + 0.5) * step_s  # middle of the target step
    cols = [horizons * step_s]
    for k in (1, 2, 3):
        ang = 2 * np.pi * k * t / DAY_S
        cols += [np.sin(ang), np.cos(ang)]
    for k in (1, 2):
        ang = 2 * np.pi * k * t / WEEK_S
        cols += [np.sin(ang), np.cos(ang)]
    day, week = steps(DAY_S, step_s), steps(WEEK_S, step_s)
    narrow, wide = steps(NARROW_S, step_s) // 2, steps(WIDE_S, step_s) // 2
    for lag in (day, week):
        cols += [seasonal_lag(means, j, i, lag, narrow), seasonal_lag(means, j, i, lag, wide)]
    recent, hour = steps(RECENT_S, step_s), steps(HOUR_S, step_s)
    safe_i = np.clip(i, 0, len(z) - 1)
    cols += [
        np.where(i >= 0, z[safe_i], np.nan),
        means.mean(i - recent + 1, i),
        means.mean(i - hour + 1, i),
        means.mean(i - day - hour + 1, i - day),
        # Mean squares give the spread (burstiness) now and one day ago, for the upper quantiles.
        squares.mean(i - hour + 1, i),
        seasonal_lag(squares, j, i, day, wide),
    ]
    # The recent level as exponential smoothing sees it (what makes ETS a strong baseline on
    # bursty traffic): averages at three time constants, and the recent burst height.
    filled = np.nan_to_num(z)
    levels = ewm_levels(filled, step_s)
    cols += [np.where(i >= 0, levels[safe_i, k], np.nan) for k in range(len(EWM_S))]
    cols.append(_running_max(filled, steps(MAX_S, step_s))[safe_i])
    return np.column_stack(cols)


def ewm_levels(filled: np.ndarray, step_s: float) -> np.ndarray:
    """Exponential averages of a gap-free series at each of ``EWM_S``, one column each
    (gbq's recent-level features and ``level-qr``'s inputs; each fills gaps its own way)."""
    cols = []
    for tau in EWM_S:
        a = 1.0 - np.exp(-step_s / tau)
        cols.append(lfilter([a], [1.0, a - 1.0], filled))
    return np.column_stack(cols)


def _running_max(z: np.ndarray, width: int) -> np.ndarray:
    """Max of each step and the ``width - 1`` before it."""
    from numpy.lib.stride_tricks import sliding_window_view

    padded = np.concatenate([np.full(width - 1, -np.inf), z])
    return sliding_window_view(padded, width).max(axis=1)
