"""``forescale prescaler`` (the service) and ``forescale backtest`` (offline evaluation)."""

from __future__ import annotations

import argparse
import json
import math
import re

from forescale.cliutil import CliError

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float:
    """``600``, ``600s``, ``10m``, ``1.5h``, ``1d``, ``2w`` -> seconds (> 0)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smhdw]?)\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a positive duration: {text!r} (e.g. 600s, 10m, 1h)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _quantile(text: str) -> float:
    try:
        q = float(text)
    except ValueError:
        q = math.nan
    if not 0 < q < 1:
        raise argparse.ArgumentTypeError(f"quantile must be in (0, 1), got {text!r}")
    return q


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("prescaler", help="Train, publish forecasts, serve the external-forecast webhook.")
    p.add_argument("--host", help="Listen address (default: settings).")
    p.add_argument("--port", type=int, help="Listen port (default: settings).")
    p.set_defaults(func=_serve)

    b = sub.add_parser("backtest", help="Rolling-origin backtest of a forecaster against seasonal-naive.")
    from forescale.traces import add_trace_arguments

    add_trace_arguments(b)
    b.add_argument("--horizon", type=parse_duration, default=600.0, help="Forecast horizon (default 10m).")
    b.add_argument("--quantile", type=_quantile, default=0.9, help="Quantile scored (default 0.9).")
    b.add_argument("--forecaster", default="gbq", help="Registered forecaster name (default gbq).")
    b.add_argument("--step", type=parse_duration, default=60.0, help="Rate bin size (default 1m).")
    b.add_argument("--every", type=parse_duration, help="Spacing of forecast origins (default: the horizon).")
    b.add_argument("--refit", type=parse_duration, default=86400.0, help="Refit period (default 1d).")
    b.add_argument("--json", action="store_true", help="End with one JSON line of the summary.")
    b.add_argument(
        "--quiet", action="store_true", help="No progress bar on stderr (there is none off a terminal)."
    )
    b.set_defaults(func=_backtest)


def _backtest(args: argparse.Namespace) -> int:
    from forescale.cliutil import reject_archive
    from forescale.prescaler.backtest import backtest
    from forescale.prescaler.base import FORECASTERS, RateSeries
    from forescale.progress import progress
    from forescale.traces import trace_from_args

    if args.forecaster not in FORECASTERS:
        raise CliError(f"--forecaster: unknown forecaster {args.forecaster!r}; known: {sorted(FORECASTERS)}")
    reject_archive(args.trace)
    trace = trace_from_args(args)
    rs = trace.rate_series(args.step)
    series = RateSeries(rs.start, rs.step_s, rs.values)
    with progress(not args.quiet) as report:
        result = backtest(
            series,
            forecaster=args.forecaster,
            horizon_s=args.horizon,
            quantile=args.quantile,
            every_s=args.every,
            refit_s=args.refit,
            progress=lambda done: report(f"backtest {args.forecaster}", done),
        )
    if result.points == 0:
        raise CliError(f"{args.trace}: too short to backtest (both forecasters need more than one day)")
    q = f"p{round(args.quantile * 100)}"
    print(f"trace {trace.source}: {len(series.values)} steps of {args.step:g}s, horizon {args.horizon:g}s")
    print(f"{'':16}{'pinball(' + q + ')':>16}{'coverage':>10}{'MAPE(p50)':>11}")
    print(f"{result.forecaster:16}{result.pinball_loss:16.6g}{result.coverage:10.3f}{result.mape:11.3f}")
    print(
        f"{'seasonal-naive':16}{result.seasonal_naive_pinball_loss:16.6g}"
        f"{result.seasonal_naive_coverage:10.3f}{result.seasonal_naive_mape:11.3f}"
    )
    print(f"ratio {result.ratio:.3f} over {result.points} points")
    if args.json:
        print(json.dumps(result.summary()))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from forescale.prescaler.base import FORECASTERS
    from forescale.prescaler.service import create_app
    from forescale.prescaler.settings import PrescalerSettings
    from forescale.web.limits import run_app

    settings = PrescalerSettings()
    if settings.forecaster not in FORECASTERS:
        raise CliError(f"FORESCALE_PRESCALER_FORECASTER: unknown forecaster {settings.forecaster!r}")
    if not settings.webhook_secret:
        raise CliError("FORESCALE_PRESCALER_WEBHOOK_SECRET is not set (a whsec_... secret)")
    run_app(create_app(settings), args.host or settings.host, args.port or settings.port)  # web/limits.py
    return 0
