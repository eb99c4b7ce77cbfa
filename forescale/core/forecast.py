"""The forecast floor: the demand forecast over the next lead time, in replicas.

Forecasts come from several sources (the learned p50/p90 model, external forecasts as
absolute rates). They are merged by taking, per source, the quantile column nearest at or
above the policy's quantile (the highest column when none is that high), and then the
peak over every point that overlaps ``[now, now + lead_time]`` across all sources: the
capacity launched now is ready only after the lead time, so it must cover whatever comes
before then. Forecasts issued more than ``max_forecast_age_s`` ago are ignored.

With ``smooth_s`` (the policy passes its latency SLO) each forecast's points in the
horizon are averaged over windows of ``smooth_s`` first and the peak is taken over those
means: a request may wait up to the SLO, so capacity for the mean rate over any
SLO-long window serves it in time (the oracle's need is built the same way), and a
one-minute spike in a seasonal forecast of bursty traffic is mostly noise that a raw
peak would buy GPUs for. Windows shorter than two points change nothing.

With ``pooled`` (``prescale.quantile_of_window_mean``) the quantile is that of the
quantity planned for, the window's mean, rather than the mean of per-point quantiles: the
mean of ``k`` p90 columns is the p90 of the window mean only if every point misses the
same way at once. Treating the points' errors as independent (a forecaster's per-minute
residuals on bursty traffic are nearly so), the window mean's spread around its median is
the points' spread over ``sqrt(k)``: ``mean(p50) + (mean(pq) - mean(p50)) / sqrt(k)``. It
needs a median column (0.5) beside the planned one; without one the columns are averaged
as before, which is the conservative side.

Which window (``PrescaleSpec.horizon``). ``lead``: every point in ``[now, now + lead]``.
``arrival``: the capacity ordered now is ready at ``now + lead``; capacity for earlier
moments was ordered by earlier ticks or is too late, so the floor plans for the demand
arriving then, served within the SLO: ``[now + lead, now + lead + smooth_s]``. What an
earlier tick ordered must still be held until its moment comes; the scale-down
stabilization window holds each recommendation for ``held_s``, so the window starts
``held_s`` before the lead time (at now when the window is shorter than the lead time):
``[now + max(0, lead - held_s), now + lead + smooth_s]``. ``lead`` plans SLO windows that
end by the lead time, i.e. mostly the demand *now* when the lead time is about an SLO.

The floor only raises the reactive term (the policy takes a max), never lowers it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

from forescale.core.model import Forecast, ForecastPoint


@functools.lru_cache(maxsize=1024)  # the same few (columns, quantile) pairs every tick
def column(quantiles: tuple[float, ...], wanted: float) -> int:
    """Index of the quantile nearest at or above ``wanted``; the highest one otherwise."""
    best = -1
    for i, q in enumerate(quantiles):
        if q >= wanted - 1e-12 and (best < 0 or q < quantiles[best]):
            best = i
    if best >= 0:
        return best
    return max(range(len(quantiles)), key=quantiles.__getitem__)


def _first(points: tuple[ForecastPoint, ...], step: float, now: float) -> int:
    """Index of the first point whose interval ``[t, t + step)`` ends after ``now``.

    Points are sorted by ``t`` and usually evenly spaced, so the index is computed and then
    nudged; gaps or uneven spacing only cost a few more steps.
    """
    i = max(0, min(len(points), int((now - points[0].t) // step)))
    while i > 0 and points[i - 1].t + step > now:
        i -= 1
    while i < len(points) and points[i].t + step <= now:
        i += 1
    return i


def smoothed_peak(values: list[float], k: int) -> float:
    """The peak of the means of ``k`` consecutive values (the mean of all when fewer)."""
    if k <= 1:
        return max(values)
    if len(values) <= k:
        return sum(values) / len(values)
    total = sum(values[:k])
    best = total
    for i in range(k, len(values)):
        total += values[i] - values[i - k]
        best = max(best, total)
    return best / k


def _raw_peak(points: tuple[ForecastPoint, ...], i: int, end: float, col: int) -> float | None:
    """The peak of column ``col`` from point ``i`` up to ``end`` (None: no point there)."""
    best: float | None = None
    for j in range(i, len(points)):
        p = points[j]
        if p.t > end:
            break
        v = p.rps[col]
        if best is None or v > best:
            best = v
    return best


def _smoothed(
    points: tuple[ForecastPoint, ...], i: int, end: float, col: int, k: int, median: int | None = None
) -> float | None:
    """The peak of ``k``-point means of column ``col`` from point ``i`` up to ``end``;
    with a ``median`` column, of the pooled window quantile (module docstring)."""
    values: list[float] = []
    mids: list[float] = []
    for j in range(i, len(points)):
        p = points[j]
        if p.t > end:
            break
        values.append(p.rps[col])
        if median is not None:
            mids.append(p.rps[median])
    if not values:
        return None
    if median is None:
        return smoothed_peak(values, k)
    # median + spread / sqrt(points in a window): both are linear, so they average per point
    shrink = 1.0 / math.sqrt(min(k, len(values)))
    return smoothed_peak([m + (v - m) * shrink for v, m in zip(values, mids, strict=True)], k)


def window(lead_s: float, held_s: float, smooth_s: float, rule: str) -> tuple[float, float]:
    """``(from_s, to_s)`` after now that the floor plans for under ``rule``
    (``PrescaleSpec.horizon``; module docstring)."""
    if rule == "lead":
        return 0.0, lead_s
    return max(0.0, lead_s - held_s), lead_s + smooth_s


def _median(quantiles: tuple[float, ...], col: int) -> int | None:
    """The 0.5 column when there is one and it is not ``col`` itself."""
    for i, q in enumerate(quantiles):
        if abs(q - 0.5) < 1e-9:
            return None if i == col else i
    return None


def peak(
    forecasts: Sequence[Forecast], now: float, horizon_s: float, quantile: float, max_age_s: float,
    smooth_s: float = 0.0, pooled: bool = False, from_s: float = 0.0,
) -> tuple[float | None, int]:  # fmt: skip
    """Peak forecast rate over ``[now + from_s, now + horizon_s]`` and how many forecasts
    were used.

    Points are taken as sorted by ``t`` (forecasters emit them so); each covers
    ``[t, t + step_s)``. ``smooth_s``: average over windows this long first; ``pooled``:
    the quantile of those window means rather than their mean of quantiles (see above).
    ``from_s``: where the planned window starts (``window``).
    """
    best: float | None = None
    used = 0
    end = now + horizon_s
    for f in forecasts:
        if now - f.issued_at > max_age_s or not f.points:
            continue
        col = column(f.quantiles, quantile)
        i = _first(f.points, f.step_s, now + from_s)
        k = int(smooth_s // f.step_s)
        if k <= 1:
            v = _raw_peak(f.points, i, end, col)
        else:
            v = _smoothed(f.points, i, end, col, k, _median(f.quantiles, col) if pooled else None)
        if v is not None:
            used += 1
            if best is None or v > best:
                best = v
    return best, used
