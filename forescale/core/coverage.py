"""Does the forecast floor cover real demand? The gate on the short scale-down window.

What a forecast buys is the way down: while the floor covers the next lead time, capacity
can go soon after the need falls, since what comes back within the lead time is in the
floor and what comes later can be launched in time. That holds only while the forecast
is right. A seasonal forecast of bursty traffic misses the bursts, and releasing capacity
a minute after a burst on its word costs attainment (93 % measured; fair-evaluation.md).

So every floor is checked against what happened: a floor planned at ``t`` for
``[t, t + lead]`` is due at ``t + lead``, and counts as covering if the realised request
rate then is at most what the floor's replicas serve (replicas x the rate it divided
by), within HPA's tolerance (a miss the reactive term would not act on either is none).
The realised rate is averaged the way the floor was planned, over the latency SLO (the
mean of the request-rate samples of the last SLO), since a request may wait that long: a
one-minute burst over a plan of five-minute means is no miss. Measured on Alibaba with a
perfect forecast: comparing the raw rate, or an exponential average (which lags when
demand falls), marked about a third of the checks as misses and closed the gate.
``coverage`` is the exponentially weighted fraction of covering checks (time constant
``coverage_window_s``; it starts at 0, so a forecast earns the short window before it
gets it), and one miss closes the gate for the whole HPA scale-down window, as HPA itself
would hold. Pure: inputs in, state out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from forescale.core.model import Observation, PolicySpec, PolicyState


@dataclass(frozen=True, slots=True)
class Coverage:
    """The coverage part of ``PolicyState``."""

    pending: tuple[tuple[float, float], ...] = ()
    coverage: float = 0.0
    checked_at: float | None = None
    missed_at: float | None = None
    rates: tuple[tuple[float, float], ...] = ()  # (t, req/s) over the last SLO
    scale: float = 1.0  # what the floor is multiplied by (``calibrate``)


# A floor planned every tick for one lead time: at 15 s ticks and a 6 min lead, 24 entries;
# rate samples over one SLO: 20 at 15 s ticks and a 300 s SLO.
MAX_PENDING = 64


def update(
    cov: Coverage, now: float, rate: float | None, planned: float | None, lead_s: float, window_s: float,
    smooth_s: float = 0.0, tolerance: float = 0.0, quantile: float = 0.5, step: float = 0.0,
) -> Coverage:  # fmt: skip
    """Keep ``rate`` (req/s now) for the mean over the last ``smooth_s``, check the floors
    due by ``now`` against that mean, then add this tick's ``planned`` req/s (None: no
    floor this tick), due after ``lead_s``."""
    pending, value, checked_at, missed_at = cov.pending, cov.coverage, cov.checked_at, cov.missed_at
    scale = cov.scale
    rates = cov.rates
    if rate is not None:
        recent = tuple(r for r in rates if r[0] > now - smooth_s)[-(MAX_PENDING - 1) :]
        rates = (*recent, (now, rate))
    due = [p for t, p in pending if t <= now]
    if due and rate is not None:
        realised = sum(r for _, r in rates) / len(rates)
        # the best plan for this moment, made a lead time ago
        covered = realised <= max(due) * (1.0 + tolerance) + 1e-9
        w = math.exp(-(now - checked_at) / window_s) if checked_at is not None else 1.0
        value = value * w + (1.0 - w) * (1.0 if covered else 0.0)
        checked_at = now
        if not covered:
            missed_at = now
        scale = calibrate(scale, covered, quantile, step)
    keep = tuple(e for e in pending if e[0] > now)
    if planned is not None:
        keep = (*keep, (now + lead_s, planned))[-MAX_PENDING:]
        if checked_at is None:  # tracking starts: the first check weighs its lead time
            checked_at = now
    return Coverage(keep, value, checked_at, missed_at, rates, scale)


SCALE_BOUNDS = (0.1, 10.0)


def calibrate(scale: float, covered: bool, quantile: float, step: float) -> float:
    """Adaptive conformal recalibration of the floor (Gibbs and Candes, 2021).

    A floor is planned at a quantile ``q`` of the demand it plans for, and should cover
    it about ``q`` of the time. A forecaster biased high for that quantity (a seasonal
    forecast of bursty traffic plans for yesterday's bursts, which come back elsewhere)
    covers more often and buys capacity for nothing; one biased low misses. Each check moves
    the floor's log-scale by ``step x (q - covered)``: down a little after a covered check,
    up after a miss, still where a ``q`` share cover. Pure, one number of state."""
    if step <= 0:
        return scale
    lo, hi = SCALE_BOUNDS
    return min(hi, max(lo, scale * math.exp(step * (quantile - (1.0 if covered else 0.0)))))


def holds(cov: Coverage, now: float, min_coverage: float, hold_s: float) -> bool:
    """Whether the short scale-down window may apply: coverage at least ``min_coverage``
    and no miss within ``hold_s`` (the HPA scale-down window)."""
    if min_coverage <= 0:
        return True
    if cov.missed_at is not None and now - cov.missed_at < hold_s:
        return False
    return cov.coverage >= min_coverage - 1e-12


def step(
    obs: Observation, spec: PolicySpec, state: PolicyState, planned: float | None, lead_s: float
) -> tuple[Coverage, bool]:
    """The floor's coverage updated with this tick, and whether the short window may apply.
    Tracked only when there is a short window to gate (the state stays small otherwise)."""
    pre = spec.prescale
    old = Coverage(
        state.floor_pending, state.floor_coverage, state.floor_checked_at, state.floor_missed_at,
        state.floor_rates, state.floor_scale,
    )  # fmt: skip
    if pre.scale_down_window_s is None and pre.calibration_step <= 0:
        return old, True
    smooth_s = spec.latency_slo_s if pre.smooth_over_slo else 0.0
    cov = update(
        old, obs.now, obs.rps_stable, planned, lead_s, pre.coverage_window_s, smooth_s, spec.tolerance,
        pre.quantile, pre.calibration_step,
    )  # fmt: skip
    return cov, holds(cov, obs.now, pre.min_coverage, spec.scale_down.stabilization_window_s)


def state_fields(cov: Coverage) -> dict[str, Any]:
    """``PolicyState`` keyword arguments carrying ``cov`` to the next tick."""
    return {
        "floor_pending": cov.pending, "floor_coverage": cov.coverage, "floor_checked_at": cov.checked_at,
        "floor_missed_at": cov.missed_at, "floor_rates": cov.rates, "floor_scale": cov.scale,
    }  # fmt: skip
