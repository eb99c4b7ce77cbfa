"""``report.html`` with PNG plots beside it, and the summary table for the terminal."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from forescale.sim.metrics import cohort_latency
from forescale.sim.run import Outcome

COLUMNS = (
    ("policy", "{}"),
    ("requests", "{:,}"),
    ("slo_attainment", "{:.4%}"),
    ("dropped", "{:,}"),
    ("p50_latency_s", "{:.2f}"),
    ("p99_latency_s", "{:.2f}"),
    ("gpu_hours", "{:,.1f}"),
    ("cost_usd", "{:,.2f}"),
    ("spot_fraction", "{:.1%}"),
    ("preemptions", "{:,}"),
    ("cost_vs_oracle", "{:.3f}"),
)


def table_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, row in results["policies"].items():
        cells = []
        for key, fmt in COLUMNS:
            value = name if key == "policy" else row[key]
            cells.append("-" if value is None else fmt.format(value))
        rows.append(cells)
    return rows


def summary_table(results: dict[str, Any]) -> str:
    head = [k for k, _ in COLUMNS]
    rows = [head, *table_rows(results)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
    return "\n".join(lines)


def _bin_s(n: int) -> int:
    """Plot bin: a minute, or longer so that a long trace has at most ~3000 points."""
    return max(60, -(-n // 3000 // 60) * 60)


def _binned(values: np.ndarray, width: int, how: str = "mean") -> np.ndarray:
    n = len(values) // width * width
    if n == 0:
        return values
    blocks = values[:n].reshape(-1, width)
    return blocks.max(axis=1) if how == "max" else blocks.mean(axis=1)


def write_plots(outcome: Outcome, folder: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = _bin_s(len(outcome.demand))
    hours = np.arange(len(_binned(outcome.demand, width))) * width / 3600.0
    names: list[str] = []

    fig, ax = plt.subplots(figsize=(11, 4))
    ax.plot(hours, _binned(outcome.need, width, "max"), color="black", lw=0.8, label="need (max per bin)")
    for name, run in outcome.runs.items():
        ax.plot(hours, _binned(run.ready, width), lw=0.8, label=f"{name} ready (mean per bin)")
    ax.set(xlabel="hours", ylabel="replicas", title=f"Demand (need) vs ready capacity, {width} s bins")
    ax.legend(fontsize=7)
    names.append(_save(fig, folder, "capacity.png"))

    fig, ax = plt.subplots(figsize=(11, 4))
    for name, run in outcome.runs.items():
        ax.plot(np.asarray(run.tick_t) / 3600.0, run.tick_cost, lw=1, label=name)
    ax.set(xlabel="hours", ylabel="USD (cumulative)", title="Cost over time", yscale="log")
    ax.legend(fontsize=7)
    names.append(_save(fig, folder, "cost.png"))

    fig, ax = plt.subplots(figsize=(11, 4))
    for name, run in outcome.runs.items():
        latency = cohort_latency(outcome.scenario, outcome.demand, run)
        # No arrivals: 0 (nothing waited); never served: drawn at 1e6 s, off the chart's scale.
        worst = _binned(np.nan_to_num(latency, nan=0.0, posinf=1e6), width, "max")
        ax.plot(hours, worst, lw=0.8, label=name)
    ax.axhline(outcome.scenario.slo.latency_s, color="black", ls="--", lw=0.8, label="SLO")
    ax.set(xlabel="hours", ylabel="s", title=f"Latency (worst per {width} s bin)", yscale="log")
    ax.legend(fontsize=7)
    names.append(_save(fig, folder, "latency.png"))
    plt.close("all")
    return names


def _save(fig: Any, folder: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(folder / name, dpi=90)
    return name


def write_html(results: dict[str, Any], images: list[str], path: Path) -> None:
    head = "".join(f"<th>{html.escape(k)}</th>" for k, _ in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table_rows(results)
    )
    trace = html.escape(", ".join(f"{k}: {v}" for k, v in results["trace"].items()))
    imgs = "".join(f'<p><img src="{html.escape(i)}" alt="{html.escape(i)}"></p>' for i in images)
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>forescale simulate</title>"
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}</style></head>"
        f"<body><h1>forescale simulate</h1><p>{trace}</p><table><tr>{head}</tr>{body}</table>{imgs}"
        "</body></html>\n"
    )
