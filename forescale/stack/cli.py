"""``forescale demo``: the whole control plane live on this machine (``make demo``).

DEMO_MINUTES=N (default 4) sets the wall time; TRACE=PATH replays a real trace's shape
instead of the built-in synthetic day; DEMO_OUT=DIR is where the report goes; DEMO_CHAT=0
(or --no-chat) leaves out the chat leg (a second model on the llm engine, stack/chat.py).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from forescale.cliutil import CliError

DEFAULT_MINUTES = 4.0
OVERHEAD_S = 40.0  # start-up, stop and the report, out of the wall-time budget
MIN_LOAD_S = 24.0  # one demo hour per second at least


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the whole control plane live on this machine, then a report")
    p.add_argument(
        "--minutes",
        default=None,
        help=f"wall time of the demo (default: DEMO_MINUTES, else {DEFAULT_MINUTES:g})",
    )
    p.add_argument("--trace", default=None, help="replay this trace's shape (default: TRACE, else synthetic)")
    p.add_argument("--out", default=None, help="report folder (default: DEMO_OUT, else demo-out)")
    p.add_argument("--no-live", action="store_true", help="plain log lines instead of the live view")
    p.add_argument(
        "--no-chat", action="store_true", help="no chat leg (llm engine, TTFT); default: DEMO_CHAT, else on"
    )
    p.set_defaults(func=_demo)


def minutes_from(args: argparse.Namespace) -> float:
    """``--minutes``, else ``DEMO_MINUTES``, else the default; ``CliError`` naming the source."""
    source, raw = ("--minutes", args.minutes) if args.minutes is not None else ("DEMO_MINUTES", None)
    if raw is None:
        raw = os.environ.get("DEMO_MINUTES", str(DEFAULT_MINUTES))
    try:
        minutes = float(raw)
    except ValueError:
        minutes = -1.0
    if not minutes > 0:
        raise CliError(f"{source}: expected minutes > 0, not {raw!r}")
    return minutes


def chat_from(args: argparse.Namespace) -> bool:
    """``--no-chat``, else ``DEMO_CHAT`` (1/0, on/off, true/false, yes/no), else on."""
    if args.no_chat:
        return False
    raw = os.environ.get("DEMO_CHAT", "1").strip().lower()
    if raw in ("1", "on", "true", "yes"):
        return True
    if raw in ("0", "off", "false", "no"):
        return False
    raise CliError(f"DEMO_CHAT: expected 1 or 0, not {raw!r}")


def _llm_installed() -> bool:
    from importlib.util import find_spec

    return all(find_spec(name) is not None for name in ("torch", "safetensors"))


def _demo(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from forescale.stack.chat import ChatPlan
    from forescale.stack.run import DemoOptions, main
    from forescale.stack.scenario import DemoPlan, synthetic_demand, trace_demand

    minutes = minutes_from(args)
    chat = ChatPlan() if chat_from(args) else None
    if chat is not None and not _llm_installed():
        # The control plane installs without torch; only the chat leg's worker needs it.
        print(
            "demo: chat leg off: the llm engine needs the worker extra (torch, safetensors)", file=sys.stderr
        )
        chat = None
    plan = DemoPlan(load_s=float(max(MIN_LOAD_S, round(minutes * 60 - OVERHEAD_S))))
    trace_path = args.trace or os.environ.get("TRACE") or None
    if trace_path:
        from forescale.traces import load_trace

        demand = trace_demand(load_trace(trace_path), plan)  # TraceError is a CliError
    else:
        demand = synthetic_demand(plan)
    out = Path(args.out or os.environ.get("DEMO_OUT") or "demo-out")
    if out.exists() and not out.is_dir():
        raise CliError(f"--out: {out} exists and is not a folder")
    live = sys.stdout.isatty() and not args.no_live
    return main(DemoOptions(plan, demand, announce=not trace_path, out=out, live_view=live, chat=chat))
