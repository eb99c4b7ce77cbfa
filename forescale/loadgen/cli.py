"""``forescale loadgen``: replay a trace against a router, open loop; print the report."""

from __future__ import annotations

import argparse
from typing import Any

from forescale.cliutil import CliError


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, not {text!r}")
    return value


def register(sub: Any) -> None:
    from forescale.traces import add_trace_arguments

    p = sub.add_parser("loadgen", help="replay a trace against a router, open loop (arrivals never wait)")
    p.add_argument("--url", required=True, help="router base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--model", default="model", help="model name (default: model)")
    p.add_argument("--duration", type=_positive, default=None, help="stop after this many seconds")
    p.add_argument("--concurrency", type=int, default=256, help="most requests in flight; more are dropped")
    p.add_argument("--timeout", type=_positive, default=30.0, help="request deadline in seconds")
    p.add_argument("--seed", type=int, default=0, help="seed of Poisson arrivals for rate traces")
    add_trace_arguments(p)
    p.set_defaults(func=_loadgen)


def _loadgen(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import signal

    from forescale.loadgen.arrivals import arrival_offsets
    from forescale.loadgen.runner import LoadGen
    from forescale.traces import trace_from_args

    if args.concurrency < 1:
        raise CliError(f"--concurrency: must be >= 1, not {args.concurrency}")
    if not args.url.startswith(("http://", "https://")):
        raise CliError(f"--url: expected http://HOST:PORT, not {args.url!r}")
    offsets = arrival_offsets(trace_from_args(args), duration_s=args.duration, seed=args.seed)
    gen = LoadGen(args.url, args.model, concurrency=args.concurrency, timeout_s=args.timeout)

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return (await gen.run(offsets, stop)).summary()

    print(json.dumps(asyncio.run(main())))
    return 0
