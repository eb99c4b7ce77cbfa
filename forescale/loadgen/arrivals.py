"""When each request is sent: offsets in seconds from the start of the run (pure)."""

from __future__ import annotations

import numpy as np

from forescale.traces import Trace


def arrival_offsets(trace: Trace, *, duration_s: float | None = None, seed: int = 0) -> np.ndarray:
    """Sorted send offsets (seconds from the trace start).

    Per-request traces keep their arrival times; rate traces become Poisson arrivals of
    the per-second rate (seeded, so a run is reproducible). ``duration_s`` cuts the run.
    """
    if trace.arrivals is not None:
        offsets = np.asarray(trace.arrivals, dtype=float) - trace.start
    else:
        series = trace.rate_series(1.0)
        rates = np.nan_to_num(series.values.astype(float))
        offsets = poisson_offsets(rates, seed=seed) + (series.start - trace.start)
    offsets = np.sort(offsets[offsets >= 0])
    if duration_s is not None:
        offsets = offsets[offsets < duration_s]
    return offsets


def poisson_offsets(rates: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Poisson arrivals of ``rates[i]`` req/s in second ``i``, uniform inside the second."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(np.maximum(rates, 0.0))
    seconds = np.repeat(np.arange(len(rates), dtype=float), counts)
    return np.sort(seconds + rng.random(len(seconds)))
