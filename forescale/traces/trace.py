"""A loaded trace: arrival times (per-request rows) or a piecewise-constant rate (rate rows)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RateSeries:
    """Request rate (req/s) per step: ``values[i]`` covers ``[start + i*step_s, start + (i+1)*step_s)``.

    The one series type of forescale: traces produce it, forecasters and the simulator
    consume it (``forescale.prescaler.base`` re-exports it).
    ``NaN`` marks a gap (no data), which is different from zero traffic.
    """

    start: float
    step_s: float
    values: np.ndarray

    @property
    def end(self) -> float:
        return self.start + len(self.values) * self.step_s

    def until(self, t: float) -> RateSeries:
        """The part that ends at or before ``t`` (what was known at time ``t``)."""
        n = max(0, min(len(self.values), int((t - self.start) // self.step_s)))
        return RateSeries(self.start, self.step_s, self.values[:n])


@dataclass(frozen=True, eq=False)
class Trace:
    """Demand over time, in epoch seconds.

    Per-request traces have ``arrivals`` (sorted). Rate traces have ``arrivals = None`` and
    ``rate_times`` / ``rate_values``: the rate ``rate_values[i]`` (req/s) holds from
    ``rate_times[i]`` until the next row (the last row lasts one median step).
    """

    source: str
    start: float
    end: float
    arrivals: np.ndarray | None = None
    rate_times: np.ndarray | None = None
    rate_values: np.ndarray | None = None

    @property
    def duration_s(self) -> float:
        return self.end - self.start

    @property
    def requests(self) -> float:
        """Number of requests in the trace (expected number for a rate trace)."""
        if self.arrivals is not None:
            return float(len(self.arrivals))
        assert self.rate_times is not None and self.rate_values is not None
        widths = np.diff(np.append(self.rate_times, self.end))
        return float(np.sum(widths * self.rate_values))

    def rate_series(self, step_s: float) -> RateSeries:
        """Mean rate per ``step_s`` bin from ``start`` (floored to the step) to ``end``."""
        if step_s <= 0:
            raise ValueError("step_s must be > 0")
        origin = np.floor(self.start / step_s) * step_s
        n = max(1, int(np.ceil((self.end - origin) / step_s)))
        edges = origin + step_s * np.arange(n + 1)
        if self.arrivals is not None:
            counts = np.histogram(self.arrivals, bins=edges)[0].astype(float)
            # np.histogram's last bin is closed; an arrival exactly at the end belongs to it.
            return RateSeries(float(origin), float(step_s), counts / step_s)
        return RateSeries(float(origin), float(step_s), np.diff(self._cumulative(edges)) / step_s)

    def _cumulative(self, t: np.ndarray) -> np.ndarray:
        """Requests arrived by each time in ``t`` (exact for a piecewise-constant rate)."""
        assert self.rate_times is not None and self.rate_values is not None
        knots = np.append(self.rate_times, self.end)
        cum = np.concatenate([[0.0], np.cumsum(np.diff(knots) * self.rate_values)])
        return np.interp(t, knots, cum, left=0.0, right=float(cum[-1]))
