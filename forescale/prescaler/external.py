"""External forecasts (the webhook's payload) and how they become ``core.model.Forecast``s.

People who know about tomorrow's marketing push post windows: an absolute expected rate
(optionally with the token throughput it brings, ``tokens_per_s``) or a multiplier of the
learned forecast (which scales its token columns too). Published next to the learned forecast, each as
its own ``Forecast`` with absolute rates; the core takes the max within a window and
clamps at the policy's max, and ``cap`` here keeps published values sane before that.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Self

from pydantic import Field, model_validator

from forescale.core.model import MODEL_NAME_PATTERN, Forecast, ForecastPoint, Spec

MAX_WINDOW_S = 31 * 86400


class ExternalWindow(Spec):
    """``[start, end)`` in epoch seconds, with exactly one of ``rps`` and ``multiplier``."""

    start: float = Field(description="Window start, epoch seconds.")
    end: float = Field(description="Window end, epoch seconds (exclusive).")
    rps: float | None = Field(default=None, ge=0, description="Expected request rate, req/s.")
    multiplier: float | None = Field(default=None, gt=0, description="Factor on the learned forecast.")
    tokens_per_s: float | None = Field(
        default=None, ge=0, description="With `rps`: expected tokens/s (prompt + generated)."
    )

    @model_validator(mode="after")
    def _valid(self) -> Self:
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            raise ValueError("start and end must be finite")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > MAX_WINDOW_S:
            raise ValueError("a window may last at most 31 days")
        if (self.rps is None) == (self.multiplier is None):
            raise ValueError("exactly one of `rps` and `multiplier` must be given")
        if self.tokens_per_s is not None and self.rps is None:
            raise ValueError("`tokens_per_s` goes with `rps`; a `multiplier` scales the learned tokens too")
        return self


class ExternalForecast(Spec):
    """One posted forecast; posting the same ``id`` again replaces it."""

    id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$", description="Caller's id of this forecast.")
    model: str = Field(pattern=MODEL_NAME_PATTERN, description="Model the windows are for.")
    source: str = Field(min_length=1, max_length=63, description="Who says so (team, campaign).")
    windows: tuple[ExternalWindow, ...] = Field(min_length=1, max_length=1000)
    received_at: float | None = Field(default=None, description="Set by the prescaler on receipt.")

    def active(self, now: float) -> bool:
        return any(w.end > now for w in self.windows)


def grid(now: float, horizon_s: float, step_s: float) -> list[float]:
    """Step starts covering ``[now, now + horizon)``, aligned like the learned forecasts."""
    first = math.ceil(now / step_s - 1e-9) * step_s
    return [first + k * step_s for k in range(max(1, math.ceil(horizon_s / step_s - 1e-9)))]


def to_forecast(
    ext: ExternalForecast,
    learned: Forecast | None,
    now: float,
    horizon_s: float,
    step_s: float,
    quantiles: tuple[float, ...],
) -> Forecast | None:
    """Absolute rates of ``ext`` on the grid (every quantile gets the same value; a
    multiplier scales each learned quantile, tokens included). None when no window
    overlaps the horizon. Overlapping windows take the max, in requests and in tokens."""
    base = {round(p.t, 3): p for p in learned.points} if learned else {}
    points = []
    for t in grid(now, horizon_s, step_s):
        best: tuple[float, ...] | None = None
        best_tokens: tuple[float, ...] | None = None
        for w in ext.windows:
            if not (w.start < t + step_s and w.end > t):
                continue
            tokens: tuple[float, ...] | None = None
            if w.rps is not None:
                values: tuple[float, ...] | None = (w.rps,) * len(quantiles)
                if w.tokens_per_s is not None:
                    tokens = (w.tokens_per_s,) * len(quantiles)
            else:
                at = base.get(round(t, 3))
                m = w.multiplier or 1.0
                values = tuple(v * m for v in at.rps) if at else None
                tokens = tuple(v * m for v in at.tokens) if at and at.tokens is not None else None
            if values is not None:
                best = values if best is None else tuple(map(max, best, values))
            if tokens is not None:
                best_tokens = tokens if best_tokens is None else tuple(map(max, best_tokens, tokens))
        if best is not None:
            points.append(ForecastPoint(t=t, rps=best, tokens=best_tokens))
    if not points:
        return None
    return Forecast(
        source=f"external:{ext.source}:{ext.id}",
        issued_at=now,
        step_s=step_s,
        quantiles=quantiles,
        points=tuple(points),
    )


def _clamp(values: tuple[float, ...], top: float | None) -> tuple[float, ...]:
    return tuple(max(v, 0.0) if top is None else min(max(v, 0.0), top) for v in values)


def cap(forecast: Forecast, max_rps: float | None, max_tokens: float | None = None) -> Forecast:
    """Every value clamped to ``[0, max]`` (the policy's max capacity, in req/s and tokens/s)."""
    points = tuple(
        ForecastPoint(
            t=p.t,
            rps=_clamp(p.rps, max_rps),
            tokens=None if p.tokens is None else _clamp(p.tokens, max_tokens),
        )
        for p in forecast.points
    )
    return forecast.model_copy(update={"points": points})


def merged(
    learned: Forecast | None,
    externals: Iterable[ExternalForecast],
    now: float,
    horizon_s: float,
    step_s: float,
    quantiles: tuple[float, ...],
    max_rps: float | None,
    max_tokens: float | None = None,
) -> list[Forecast]:
    """What is published for a model: the learned forecast, then one per active external."""
    out = [learned] if learned is not None else []
    for ext in externals:
        fc = to_forecast(ext, learned, now, horizon_s, step_s, quantiles)
        if fc is not None:
            out.append(fc)
    if max_rps is None and max_tokens is None:
        return out
    return [cap(f, max_rps, max_tokens) for f in out]
