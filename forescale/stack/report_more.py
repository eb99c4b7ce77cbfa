"""The report's comparison with ``hpa-karpenter`` and the chat leg's TTFT chart."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from forescale.loadgen.chat import ChatOutcome
from forescale.stack.replay import per_second
from forescale.stack.report import _events, save

if TYPE_CHECKING:
    from pathlib import Path

    from forescale.sim.engine import Run
    from forescale.stack.chat import ChatPlan

# (label, live key, forescale simulated key, hpa-karpenter simulated key)
ROWS = (
    ("cost (USD of the day)", "cost_live", "cost_sim", "hpa_karpenter_cost"),
    ("SLO attainment", "slo_attainment_live", "slo_attainment_sim", "hpa_karpenter_slo_attainment"),
    ("replica-seconds", "replica_seconds_live", "replica_seconds_sim", "hpa_karpenter_replica_seconds"),
    ("p99 latency (s)", "p99_latency_live_s", "p99_latency_sim_s", "hpa_karpenter_p99_latency_s"),
)


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"
    return html.escape(str(v))


def comparison(figures: dict[str, Any]) -> str:
    """HTML: the live run beside its forescale replay and ``hpa-karpenter`` on the same
    demand, then the chat leg's TTFT against its SLO (when it ran)."""
    cols = ("", "forescale, live", "forescale, simulated", "hpa-karpenter, simulated")
    head = "<tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>"
    rows = "".join(
        f"<tr><th>{html.escape(label)}</th>"
        + "".join(f"<td>{_cell(figures.get(k))}</td>" for k in keys)
        + "</tr>"
        for label, *keys in ROWS
    )
    out = f"<h2>forescale against hpa-karpenter on the same demand</h2><table>{head}{rows}</table>"
    if "chat_ttft_attainment" in figures:
        f, met = figures, figures.get("chat_ttft_slo_met")
        out += (
            "<h2>Chat (llm engine): TTFT against its SLO</h2><p>"
            f"SLO {html.escape(str(f['chat_ttft_slo']))}: attainment {_cell(f['chat_ttft_attainment'])}"
            f" ({'met' if met else 'missed'}) over {f['chat_requests']} requests;"
            f" TTFT p50 {_cell(f.get('chat_ttft_p50_s'))} s, p90 {_cell(f.get('chat_ttft_p90_s'))} s;"
            f" TPOT p50 {_cell(f.get('chat_tpot_p50_s'))} s.</p>"
        )
    return out


def plot_replicas(
    path: Path,
    samples: Sequence[dict[str, Any]],
    sim: Run,
    peer: Run,
    n: int,
    events: Sequence[dict[str, Any]],
) -> None:
    x = np.arange(n)
    fig, ax = plt.subplots(figsize=(10, 3.5))
    ax.step(x, per_second(samples, "ready", n), where="post", color="tab:blue", label="forescale, live")
    ax.step(x, sim.ready[:n], where="post", color="tab:orange", ls="--", label="forescale, simulated")
    ax.step(x, peer.ready[:n], where="post", color="tab:red", lw=0.9, label="hpa-karpenter, simulated")
    _events(ax, events)
    ax.set(xlabel="demo seconds", ylabel="ready replicas", title="replicas on the same demand")
    save(fig, ax, path)


def plot_ttft(
    path: Path, plan: ChatPlan, outcomes: Sequence[ChatOutcome], events: Sequence[dict[str, Any]]
) -> None:
    """Each chat request's TTFT at its arrival (failures on the top edge), the SLO bound."""
    ok = [o for o in outcomes if o.ok]
    bad = [o for o in outcomes if not o.ok]
    bound = plan.ttft.bound_s
    fig, ax = plt.subplots(figsize=(10, 3))
    within = [o for o in ok if o.ttft_s <= bound]
    over = [o for o in ok if o.ttft_s > bound]
    ax.scatter([o.at for o in within], [o.ttft_s for o in within], s=10, color="tab:green", label="TTFT")
    ax.scatter(
        [o.at for o in over], [o.ttft_s for o in over], s=12, color="tab:red", label="TTFT over the bound"
    )
    top = max([bound * 2] + [o.ttft_s for o in ok if math.isfinite(o.ttft_s)])
    if bad:
        ax.scatter([o.at for o in bad], [top] * len(bad), marker="x", color="black", label="failed")
    ax.axhline(bound, color="tab:red", ls="--", label=f"SLO: p{plan.ttft.quantile * 100:g} <= {bound:g} s")
    served = sum(1 for o in within)
    att = served / len(outcomes) if outcomes else float("nan")
    _events(ax, events)
    ax.set(
        xlabel="demo seconds",
        ylabel="seconds",
        title=f"chat time to first token: {att:.1%} within {bound:g} s (goal {plan.ttft.quantile:.0%})",
        yscale="log",
    )
    save(fig, ax, path)
