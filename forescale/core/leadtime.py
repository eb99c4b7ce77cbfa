"""Per-pool lead time (launch to ready), learned from observed durations.

The estimate is a high quantile (p90) of the most recent samples: GPU launch times have
long tails (image pulls, model loads) and planning for the median would arrive late one
time in two. A median/EWMA was rejected for that reason; a max for being hostage to one
outlier. Until a pool has samples, its spec's ``lead_time_s`` prior is used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

MAX_SAMPLES = 32
QUANTILE = 0.9


def estimate(samples: tuple[float, ...]) -> float:
    """Nearest-rank p90 of ``samples`` (non-empty)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(QUANTILE * len(ordered)) - 1)]


def learn(
    samples: Mapping[str, tuple[float, ...]],
    estimates: Mapping[str, float],
    observed: Mapping[str, tuple[float, ...]],
) -> tuple[dict[str, tuple[float, ...]], dict[str, float]]:
    """Fold newly observed durations per pool into the samples and re-estimate those pools."""
    new_samples = dict(samples)
    new_estimates = dict(estimates)
    for pool, durations in observed.items():
        fresh = tuple(d for d in durations if d > 0 and math.isfinite(d))
        if not fresh:
            continue
        kept = (new_samples.get(pool, ()) + fresh)[-MAX_SAMPLES:]
        new_samples[pool] = kept
        new_estimates[pool] = estimate(kept)
    return new_samples, new_estimates
