"""The live terminal view (rich), redrawn from the newest sample once a second."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from forescale.core.model import PoolSpec
from forescale.sim.llm_replica import TokenSlo


def _latency(p99: float | None, slo: float) -> Text:
    if p99 is None:
        return Text("-")
    text = "timeouts" if not math.isfinite(p99) else f"{p99 * 1000:.0f} ms"
    return Text(f"{text} (SLO {slo * 1000:.0f} ms)", style="green" if p99 <= slo else "bold red")


def render(
    s: dict[str, Any],
    *,
    model: str,
    slo_s: float,
    pools: Sequence[PoolSpec],
    load_s: float,
    events: Sequence[dict[str, Any]],
    chat_slo: TokenSlo | None = None,
) -> Group:
    hour = s["t"] / load_s * 24
    head = Table.grid(padding=(0, 2))
    head.add_row("model", model, "demo clock", f"{int(hour):02d}:{int(hour % 1 * 60):02d} (t={s['t']:.0f}s)")
    head.add_row(
        "rate",
        f"{s['sent_rps']:.1f} req/s (router {s['arrived_rps']}/s)",
        "queue",
        str(s["queue"]),
    )
    head.add_row(
        "p99 latency",
        _latency(s["p99_s"], slo_s),
        "replicas",
        f"{s['desired']} desired, {s['ready']} ready" + (" PANIC" if s["panic"] else ""),
    )
    head.add_row("cost", f"${s['cost_per_hour']:.2f}/h", "spot share", f"{s['spot_share']:.0%}")
    if chat_slo is not None and "chat_ready" in s:
        head.add_row(
            f"chat TTFT p{chat_slo.quantile * 100:g}",
            _latency(s["chat_ttft_s"], chat_slo.bound_s),
            "chat (llm)",
            f"{s['chat_ready']} ready, {s['chat_done']} done, {s['chat_in_flight']} streaming",
        )
    nodes = Table(box=box.SIMPLE_HEAD, expand=False, pad_edge=False, show_edge=False)
    for col in ("pool", "type", "ready", "start", "drain", "repl.", "lead", "capacity"):
        nodes.add_column(col)
    for p in pools:
        st = s["nodes"].get(p.name, {})
        nodes.add_row(
            p.name,
            p.capacity_type,
            *(str(st.get(k, 0)) for k in ("ready", "starting", "draining")),
            str(s["placed"].get(p.name, 0)),
            f"{s['lead_s'][p.name]:.1f} s" if p.name in s["lead_s"] else f"{p.lead_time_s:g} s (prior)",
            Text("none", style="bold red") if p.name in s["unavailable"] else Text("ok"),
        )
    # One line each (cropped) so that the view fits a 24-line terminal.
    reasons = Text("\n".join(s["reasons"][-5:]) or "(no decision yet)", no_wrap=True, overflow="ellipsis")
    lines = [f"t={e['t']:.0f}s {e['kind']}: {e['detail']}" for e in events[-3:]]
    recent = Text("\n".join(lines) or "-", no_wrap=True, overflow="ellipsis")
    return Group(
        Panel(head, title="forescale demo"),
        nodes,
        Panel(reasons, title=f"last decision: {s['winner'] or '-'}"),
        Panel(recent, title="events"),
    )


def line(s: dict[str, Any]) -> str:
    """One plain line for logs when stdout is not a terminal."""
    p99 = "-" if s["p99_s"] is None else f"{s['p99_s']:.2f}s"
    return (
        f"t={s['t']:.0f}s rate={s['sent_rps']:.1f}/s queue={s['queue']} p99={p99} "
        f"replicas={s['desired']}/{s['ready']} cost=${s['cost_per_hour']:.2f}/h "
        f"spot={s['spot_share']:.0%} winner={s['winner']}" + (_chat_line(s) if "chat_ready" in s else "")
    )


def _chat_line(s: dict[str, Any]) -> str:
    ttft = s["chat_ttft_s"]
    shown = "-" if ttft is None else ("timeouts" if not math.isfinite(ttft) else f"{ttft:.2f}s")
    return f" chat_ttft={shown} chat_ready={s['chat_ready']}"
