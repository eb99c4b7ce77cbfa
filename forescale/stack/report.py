"""The end report: PNG plots (matplotlib, Agg) and one HTML page beside them."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from forescale.core.model import PoolSpec
from forescale.stack.replay import per_second
from forescale.stack.scenario import DemoPlan

COLORS = {"reserved": "tab:green", "spot": "tab:blue", "on-demand": "tab:red"}


def save(fig: Any, ax: Any, path: Path) -> None:
    """Every chart's last step: the legend, a tight layout, the PNG, the figure freed."""
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _events(ax: Any, events: Sequence[dict[str, Any]]) -> None:
    for e in events:
        ax.axvline(e["t"], color="grey", lw=0.8, ls=":")
        ax.annotate(
            e["kind"],
            (e["t"], 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            fontsize=7,
            va="top",
            ha="right",
            color="dimgrey",
        )


def plot_demand(
    path: Path,
    plan: DemoPlan,
    demand: np.ndarray,
    samples: Sequence[dict[str, Any]],
    sim_ready: np.ndarray,
    events: Sequence[dict[str, Any]],
) -> None:
    n = len(demand)
    x = np.arange(n)
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(x, demand, color="black", lw=0.8, label="demand (req/s sent)")
    ax.step(
        x,
        per_second(samples, "ready", n) * plan.capacity_rps,
        where="post",
        color="tab:blue",
        label="live capacity (ready replicas x rate)",
    )
    ax.step(
        x,
        sim_ready[:n] * plan.capacity_rps,
        where="post",
        color="tab:orange",
        ls="--",
        label="simulated capacity",
    )
    ax.step(
        x,
        per_second(samples, "desired", n) * plan.capacity_rps,
        where="post",
        color="tab:purple",
        lw=0.7,
        label="desired x rate",
    )
    _events(ax, events)
    ax.set(xlabel="demo seconds", ylabel="req/s", title="demand against capacity")
    save(fig, ax, path)


def plot_latency(
    path: Path, plan: DemoPlan, samples: Sequence[dict[str, Any]], events: Sequence[dict[str, Any]]
) -> None:
    t = [s["t"] for s in samples]
    p99 = [s["p99_s"] if s["p99_s"] is not None and np.isfinite(s["p99_s"]) else np.nan for s in samples]
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.plot(t, p99, color="tab:blue", label="p99 latency (5 s window)")
    ax.axhline(plan.slo_s, color="tab:red", ls="--", label=f"SLO {plan.slo_s:g} s")
    _events(ax, events)
    ax.set(xlabel="demo seconds", ylabel="seconds", title="latency against the SLO", yscale="log")
    save(fig, ax, path)


def plot_cost(
    path: Path, samples: Sequence[dict[str, Any]], pools: Sequence[PoolSpec], events: Sequence[dict[str, Any]]
) -> None:
    t = [s["t"] for s in samples]
    fig, ax = plt.subplots(figsize=(10, 3))
    stacks, labels, colors = [], [], []
    for kind in ("reserved", "spot", "on-demand"):
        mine = [p for p in pools if p.capacity_type == kind]
        series = []
        for s in samples:
            total = 0.0
            for p in mine:
                held = sum(s["nodes"].get(p.name, {}).values())
                total += max(held, p.reservation_nodes) * p.price_per_node_hour
            series.append(total)
        stacks.append(series)
        labels.append(kind)
        colors.append(COLORS[kind])
    ax.stackplot(t, *stacks, labels=labels, colors=colors, alpha=0.7)
    _events(ax, events)
    ax.set(xlabel="demo seconds", ylabel="USD per hour", title="cost by capacity type")
    save(fig, ax, path)


def write_html(
    path: Path,
    figures: dict[str, Any],
    load: dict[str, Any],
    events: Sequence[dict[str, Any]],
    images: Sequence[str],
    notes: Sequence[str],
    comparison: str = "",
) -> None:
    def table(d: dict[str, Any]) -> str:
        rows = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v))}</td></tr>"
            for k, v in d.items()
        )
        return f"<table>{rows}</table>"

    ev = "".join(
        f"<li>t={e['t']:.0f}s <b>{html.escape(e['kind'])}</b>: {html.escape(e['detail'])}</li>"
        for e in events
    )
    imgs = "".join(f'<p><img src="{html.escape(i)}" alt="{html.escape(i)}"></p>' for i in images)
    body = (
        "<h1>forescale demo report</h1>"
        f"{comparison}"
        f"<h2>Live against simulated</h2>{table(figures)}"
        f"<h2>Load generator</h2>{table(load)}"
        f"<h2>Events</h2><ul>{ev}</ul>{imgs}"
        f"<h2>Notes</h2><ul>{''.join(f'<li>{html.escape(n)}</li>' for n in notes)}</ul>"
    )
    style = "body{font-family:sans-serif;max-width:1000px;margin:auto}th{text-align:left;padding-right:1em}"
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>forescale demo</title>"
        f"<style>{style}</style></head><body>{body}</body></html>\n"
    )
