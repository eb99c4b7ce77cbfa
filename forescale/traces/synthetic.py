"""A seeded synthetic workload: daily cycle, weekly dip, bursts. For tests and the demo,
which must not depend on the real traces in ../shared/traces."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forescale.traces.trace import Trace

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S


@dataclass(frozen=True)
class Workload:
    """Shape of the synthetic demand; every rate is req/s."""

    mean_rps: float = 20.0
    daily_amplitude: float = 0.6  # the daily sine swings the rate by +/- this fraction
    peak_hour: float = 20.0  # hour of day (UTC) of the daily peak
    weekly_dip: float = 0.5  # rate factor on the dip days (1 = no dip)
    dip_days: tuple[int, ...] = (5, 6)  # days of the week (from the trace start) with the dip
    bursts_per_day: float = 4.0
    burst_factor: float = 3.0  # rate multiplier during a burst
    burst_s: float = 120.0
    noise: float = 0.05  # per-minute multiplicative noise (std dev)


def rate_curve(duration_s: float, workload: Workload, *, start: float = 0.0, seed: int = 0) -> np.ndarray:
    """Expected rate per second for ``duration_s`` seconds from ``start``."""
    rng = np.random.default_rng(seed)
    t = start + np.arange(int(duration_s), dtype=float)
    hour = (t % DAY_S) / 3600.0
    rate = workload.mean_rps * (
        1 + workload.daily_amplitude * np.cos(2 * np.pi * (hour - workload.peak_hour) / 24)
    )
    day_of_week = ((t - start) // DAY_S).astype(int) % 7
    rate = rate * np.where(np.isin(day_of_week, workload.dip_days), workload.weekly_dip, 1.0)
    minutes = int(np.ceil(duration_s / 60)) + 1
    noise = np.exp(rng.normal(0, workload.noise, minutes))
    rate = rate * noise[((t - start) // 60).astype(int)]
    n_bursts = rng.poisson(workload.bursts_per_day * duration_s / DAY_S)
    for at in rng.uniform(0, max(duration_s - workload.burst_s, 1), n_bursts):
        lo, hi = int(at), int(at + workload.burst_s)
        rate[lo:hi] *= workload.burst_factor
    return np.maximum(rate, 0.0)


def synthetic_trace(
    duration_s: float,
    workload: Workload | None = None,
    *,
    start: float = 1_699_920_000.0,
    seed: int = 0,
    kind: str = "rates",
) -> Trace:
    """A synthetic trace: a 1-s rate trace (``kind="rates"``) or Poisson arrivals
    (``kind="requests"``) drawn from the same curve. ``start`` is epoch seconds; the
    default is Tuesday 2023-11-14 00:00 UTC; any value works."""
    workload = workload or Workload()
    rate = rate_curve(duration_s, workload, start=start, seed=seed)
    times = start + np.arange(len(rate), dtype=float)
    end = start + len(rate)
    if kind == "rates":
        return Trace("synthetic", start, end, rate_times=times, rate_values=rate)
    if kind != "requests":
        raise ValueError(f"kind must be 'rates' or 'requests', not {kind!r}")
    rng = np.random.default_rng(seed + 1)
    counts = rng.poisson(rate)
    arrivals = np.repeat(times, counts) + rng.random(int(counts.sum()))
    return Trace("synthetic", start, end, arrivals=np.sort(arrivals))
