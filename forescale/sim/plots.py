"""The PNG charts of ``report.html`` (matplotlib, Agg).

Choices a reader of the report would otherwise trip over:

- the time axis shows dates (UTC) when the trace has real timestamps, hours otherwise;
- the capacity chart compares like with like: need and each policy's ready replicas are
  both averaged over the same bins (``capacity_series``), so a policy that meets every
  second's need (the oracle) never draws below the need line;
- one small panel per policy (shared axes) instead of every line on one chart: a static
  policy's flat peak-sized line no longer sets the range that flattens the others, and a
  long trace's latency is a readable line per policy rather than one solid block;
- cost is cumulative USD on a linear axis, each line labelled with its final figure;
- ``cost_slo_plot`` is the place for the cost-SLO frontier: today one point per policy,
  plus the sweep's points when ``results["frontier"]`` holds them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from forescale.sim.metrics import cohort_latency
from forescale.sim.run import Outcome

MAX_POINTS = 400  # per line: a long trace stays a line, not a block
COLOURS = {"forescale": "#1f77b4", "hpa": "#d62728", "static": "#7f7f7f", "oracle": "#2ca02c",
           "forescale-on-demand": "#9467bd"}  # fmt: skip
REAL_EPOCH = 1e8  # traces starting before 1973 have relative, not real, timestamps


def bin_s(n: int) -> int:
    """Plot bin: a minute, or longer so that a trace has at most ``MAX_POINTS`` bins."""
    return max(60, -(-n // MAX_POINTS // 60) * 60)


def binned(values: np.ndarray, width: int, how: str = "mean") -> np.ndarray:
    """Per-bin mean or max; a last partial bin counts too (a short trace still plots)."""
    n = len(values)
    if n == 0:
        return values
    pad = -n % width
    fill = np.nan if pad else 0.0
    blocks = np.concatenate([values.astype(float), np.full(pad, fill)]).reshape(-1, width)
    return np.nanmax(blocks, axis=1) if how == "max" else np.nanmean(blocks, axis=1)


def capacity_series(outcome: Outcome, width: int) -> dict[str, np.ndarray]:
    """``need`` and each policy's ready replicas, all as the mean over the same bins."""
    out = {"need": binned(outcome.need, width)}
    out |= {name: binned(run.ready, width) for name, run in outcome.runs.items()}
    return out


def spread(values: dict[str, float], gap: float) -> dict[str, float]:
    """Label heights near ``values`` but at least ``gap`` apart (end labels never overlap)."""
    out: dict[str, float] = {}
    last = -np.inf
    for name, value in sorted(values.items(), key=lambda kv: kv[1]):
        out[name] = max(value, last + gap)
        last = out[name]
    return out


def colour(name: str) -> str:
    return COLOURS.get(name, "#ff7f0e")


def time_axis(start: float, seconds: np.ndarray) -> tuple[Any, str]:
    """x values for ``seconds`` from the start: datetimes (UTC) or hours."""
    if start > REAL_EPOCH:
        return [datetime.fromtimestamp(start + float(s), UTC) for s in seconds], "time (UTC)"
    return np.asarray(seconds) / 3600.0, "hours since the trace start"


def _format_time(ax: Any, dates: bool) -> None:
    if dates:
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def write_plots(outcome: Outcome, folder: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    width = bin_s(len(outcome.demand))
    series = capacity_series(outcome, width)
    x, xlabel = time_axis(outcome.start, np.arange(len(series["need"])) * width)
    dates = outcome.start > REAL_EPOCH
    names = list(outcome.runs)
    per_min = f"{width // 60} min" if width < 7200 else f"{width / 3600:g} h"
    images: list[str] = []

    fig, axes = plt.subplots(len(names), 1, figsize=(13, 1.7 * len(names) + 0.9), sharex=True, sharey=True)
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, names, strict=True):
        ax.fill_between(x, series["need"], color="#bbbbbb", lw=0, label="need")
        ax.plot(x, series[name], color=colour(name), lw=1.2, label=f"{name}: ready")
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        ax.set_ylabel("replicas")
        ax.grid(alpha=0.3)
        _format_time(ax, dates)
    axes[0].set_title(f"Replicas needed (grey) and ready, mean per {per_min}")
    axes[-1].set_xlabel(xlabel)
    images.append(_save(fig, folder, "capacity.png"))

    fig, ax = plt.subplots(figsize=(13, 4))
    finals = {name: run.tick_cost[-1] for name, run in outcome.runs.items() if run.tick_cost}
    label_at = spread(finals, 0.05 * max(finals.values(), default=0.0))
    for i, (name, run) in enumerate(outcome.runs.items()):
        tx, _ = time_axis(outcome.start, np.asarray(run.tick_t))
        ax.plot(tx, run.tick_cost, color=colour(name), lw=1.4, ls=("-", "--", "-.", ":")[i % 4], label=name)
        if name in finals:
            ax.annotate(f" {name} ${finals[name]:,.0f}", (tx[-1], label_at[name]), fontsize=8,
                        color=colour(name), va="center")  # fmt: skip
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"${v:,.0f}"))
    ax.set(xlabel=xlabel, ylabel="cost so far (USD)", title="Cumulative cost")
    ax.set_ylim(bottom=0)
    ax.margins(x=0.2)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    _format_time(ax, dates)
    images.append(_save(fig, folder, "cost.png"))

    slo = outcome.scenario.slo.latency_s
    fig, axes = plt.subplots(len(names), 1, figsize=(13, 1.5 * len(names) + 0.9), sharex=True, sharey=True)
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, names, strict=True):
        latency = cohort_latency(outcome.scenario, outcome.demand, outcome.runs[name])
        # No arrivals: nothing waited; never served: drawn at the top of the scale.
        worst = binned(np.nan_to_num(latency, nan=0.0, posinf=100 * slo), width, "max")
        ax.plot(x, np.maximum(worst, 1e-3), color=colour(name), lw=1.0, label=f"{name}: worst latency")
        ax.axhline(slo, color="black", ls="--", lw=0.8, label=f"SLO {slo:g} s")
        ax.set_yscale("log")
        ax.set_ylabel("seconds")
        ax.legend(loc="upper left", fontsize=8, frameon=False, ncols=2)
        ax.grid(alpha=0.3)
        _format_time(ax, dates)
    axes[0].set_title(f"Worst request latency per {per_min} against the SLO")
    axes[-1].set_xlabel(xlabel)
    images.append(_save(fig, folder, "latency.png"))

    images.append(cost_slo_plot(outcome.results, folder))
    plt.close("all")
    return images


def cost_slo_plot(results: dict[str, Any], folder: Path) -> str:
    """Cost against SLO attainment: the frontier's chart.

    Each policy of this run is one point. A sweep (the fair-evaluation work) adds its
    points as ``results["frontier"]``: a list of ``{"policy", "cost_usd",
    "slo_attainment", "label"}``; each policy's points are joined into its frontier line.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    fig, ax = plt.subplots(figsize=(13, 3.6))
    sweep: dict[str, list[dict[str, Any]]] = {}
    for point in results.get("frontier") or []:
        sweep.setdefault(str(point["policy"]), []).append(point)
    for name, points in sweep.items():
        points = sorted(points, key=lambda p: p["cost_usd"])
        ax.plot([p["cost_usd"] for p in points], [p["slo_attainment"] for p in points], color=colour(name),
                lw=1, marker=".", alpha=0.7)  # fmt: skip
    for name, row in results["policies"].items():
        if row["slo_attainment"] is None:
            continue
        ax.scatter(row["cost_usd"], row["slo_attainment"], color=colour(name), s=60, zorder=3, label=name)
        ax.annotate(f"  {name}", (row["cost_usd"], row["slo_attainment"]), fontsize=8, va="center")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"${v:,.0f}"))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=2))
    ax.set(
        xlabel="cost (USD)",
        ylabel="SLO attainment",
        title="Cost against SLO attainment (up and left is better)",
    )
    ax.margins(x=0.15, y=0.2)
    ax.grid(alpha=0.3)
    return _save(fig, folder, "cost-slo.png")


def _save(fig: Any, folder: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(folder / name, dpi=100)
    return name
