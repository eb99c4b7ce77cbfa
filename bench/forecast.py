"""Training time of the learned forecaster on 4 weeks of 1-minute data (goal: < 5 s on 2 cores).

    .venv/bin/python bench/forecast.py [--days 28] [--step 60]

Prints the one-time sklearn import, then fit wall and CPU time with 1 and 2 OpenMP threads,
and the per-call forecast latency, each against the 5 s training limit.

With ``--trace`` it prints the backtest table instead: p90 pinball and coverage at a
10-minute horizon of gbq, seasonal-naive, ARIMA and ETS on the trace's per-minute rate
(origins every 30 min, refit daily), and gbq's ratio to the best baseline (goal <= 0.85,
coverage 0.87-0.93):

    .venv/bin/python bench/forecast.py --trace ../shared/traces/alibaba_genai_lora_request_trace.csv.gz \
        --rate-scale 10 --first-day 4 --days 8
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


def backtest_table(path: str, rate_scale: float, first_day: int, days: int) -> None:
    from forescale.prescaler.base import RateSeries
    from forescale.prescaler.baselines import compare
    from forescale.traces.reader import load_trace

    rs = load_trace(path, rate_scale=rate_scale).rate_series(60.0)
    a, b = first_day * 1440, (first_day + days) * 1440
    series = RateSeries(rs.start + a * 60.0, 60.0, rs.values[a:b])
    out = compare(series, "gbq", horizon_s=600, quantile=0.9, every_s=1800)
    print(f"days {first_day}-{first_day + days} x{rate_scale:g}, p90, 10-min horizon, {out['points']} points")
    print(f"{'forecaster':16s} pinball  coverage")
    print(f"{'gbq':16s} {out['pinball_loss']:.4f}   {out['coverage']:.3f}")
    for name, loss in out["losses"].items():
        print(f"{name:16s} {loss:.4f}   {out['coverages'][name]:.3f}")
    print(f"gbq / best baseline ({out['best_baseline']}): {out['ratio_to_best']:.2f} (goal <= 0.85)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=28)
    parser.add_argument("--step", type=float, default=60)
    parser.add_argument("--trace", help="Backtest table on this trace instead of the timing.")
    parser.add_argument("--rate-scale", type=float, default=1.0)
    parser.add_argument("--first-day", type=int, default=0)
    args = parser.parse_args()
    if args.trace:
        backtest_table(args.trace, args.rate_scale, args.first_day, int(args.days))
        return
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
