"""The shared trace flags of ``forescale simulate`` and ``forescale backtest``."""

from __future__ import annotations

import argparse

from forescale.traces.reader import load_trace
from forescale.traces.trace import Trace


def add_trace_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --trace, --trace-format, --time-column, --rate-column, --time-unit,
    --rate-scale and --time-scale to ``parser``."""
    group = parser.add_argument_group("trace")
    group.add_argument("--trace", required=True, help="CSV or JSONL trace file (gzip accepted).")
    group.add_argument(
        "--trace-format",
        default="auto",
        choices=("auto", "requests", "rates"),
        help="Rows are one request each, or a rate per interval (default: guess from columns).",
    )
    group.add_argument("--time-column", help="Column with the time (default: found by name).")
    group.add_argument("--rate-column", help="Column with req/s for rate traces (default: by name).")
    group.add_argument(
        "--time-unit",
        choices=("s", "ms", "iso"),
        help="Epoch seconds, epoch milliseconds or datetime text (default: guessed).",
    )
    group.add_argument("--prompt-column", help="Prompt tokens per request (default: found by name).")
    group.add_argument("--output-column", help="Output tokens per request (default: found by name).")
    group.add_argument("--rate-scale", type=float, default=1.0, help="Multiply demand by this (default 1).")
    group.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="Stretch time from the trace start by this; 0.1 replays ten times faster (default 1).",
    )


def trace_from_args(args: argparse.Namespace) -> Trace:
    """The trace the flags name; ``TraceError`` (a ``CliError``) on bad input."""
    return load_trace(
        args.trace,
        fmt=args.trace_format,
        time_column=args.time_column,
        rate_column=args.rate_column,
        time_unit=args.time_unit,
        rate_scale=args.rate_scale,
        time_scale=args.time_scale,
    )
