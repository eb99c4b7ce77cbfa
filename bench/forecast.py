"""Training time of the learned forecaster on 4 weeks of 1-minute data (goal: < 5 s on 2 cores).

    .venv/bin/python bench/forecast.py [--days 28] [--step 60]

Prints the one-time sklearn import, then fit wall and CPU time with 1 and 2 OpenMP threads,
and the per-call forecast latency, each against the 5 s training limit.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

LIMIT_S = 5.0


def series(days: float, step_s: float):
    from forescale.prescaler.base import RateSeries
    from forescale.traces.synthetic import synthetic_trace

    rs = synthetic_trace(days * 86_400, kind="rates").rate_series(step_s)
    counts = np.random.default_rng(0).poisson(rs.values * step_s)  # Poisson noise on the curve
    return RateSeries(rs.start, rs.step_s, counts / step_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=28)
    parser.add_argument("--step", type=float, default=60)
    args = parser.parse_args()
    history = series(args.days, args.step)
    t0 = time.perf_counter()
    import sklearn.ensemble  # noqa: F401 - timed once, as the service pays it once

    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall times grow with it)")
    print(f"import sklearn: {time.perf_counter() - t0:.2f} s (once per process)")
    from forescale.prescaler.gbq import GradientBoostedQuantiles

    print(f"history: {len(history.values)} steps of {args.step:g} s ({args.days:g} days)")
    models = {}
    for threads in (1, 2):
        model = models[threads] = GradientBoostedQuantiles(threads=threads)
        w0, c0 = time.perf_counter(), time.process_time()
        model.fit(history)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        verdict = "OK" if wall < LIMIT_S else "OVER"
        print(
            f"fit gbq (p50+p90), {threads} thread(s): {wall:.2f} s wall, {cpu:.2f} s CPU "
            f"vs limit {LIMIT_S:g} s: {verdict}"
        )
    model = models[1]
    w0 = time.perf_counter()
    for _ in range(20):
        model.forecast(history, history.end, 900, (0.5, 0.9))
    print(f"forecast 15 min: {(time.perf_counter() - w0) / 20 * 1000:.1f} ms per call")


if __name__ == "__main__":
    main()
