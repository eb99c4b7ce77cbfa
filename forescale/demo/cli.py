"""``forescale demo``: start a local stack, send real requests, print what happened.

Interim version (serving path only): Redis, a router and a ``transformer`` worker as
child processes; the full demo with the controller comes in a later issue.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run Redis + router + transformer worker locally and send real requests")
    p.add_argument("--requests", type=int, default=200, help="requests in the load phase")
    p.add_argument("--concurrency", type=int, default=16, help="concurrent clients in the load phase")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from forescale.demo.interim import run_demo

    return run_demo(args.requests, args.concurrency)
