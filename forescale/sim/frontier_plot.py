"""``frontier.png``: every sweep point (attainment vs cost) and each policy's Pareto frontier,
with the "cost to reach X %" table under it.

Attainment is drawn as misses (1 - attainment) on a log axis, so 99 %, 99.9 % and 99.99 %
are evenly spaced and the levels the summary asks about are the dashed lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forescale.sim.sweep import LEVELS, summary_table

FLOOR = 1e-6  # misses drawn at this when a point met every request


def write_frontier_plot(sweep: dict[str, Any], folder: Path, name: str = "frontier.png") -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(sweep["points"])
    fig, (ax, table) = plt.subplots(
        2, 1, figsize=(11, 7 + 0.22 * len(names)), gridspec_kw={"height_ratios": [6, 1 + 0.3 * len(names)]}
    )
    for series, points in sweep["points"].items():
        xs = [p["cost_usd"] for p in points]
        ys = [max(1 - p["slo_attainment"], FLOOR) for p in points]
        (dots,) = ax.plot(xs, ys, "o", ms=4, alpha=0.5, label=series)
        front = sweep["frontier"][series]
        ax.plot(
            [p["cost_usd"] for p in front],
            [max(1 - p["slo_attainment"], FLOOR) for p in front],
            "-",
            color=dots.get_color(),
            lw=1.2,
        )
    for level in LEVELS:
        ax.axhline(1 - level, color="grey", ls="--", lw=0.6)
        ax.annotate(f"{level:.2%}", (ax.get_xlim()[0], 1 - level), fontsize=7, va="bottom")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="cost (USD)",
        ylabel="share of requests missing the SLO (1 - attainment)",
        title="Cost vs SLO attainment: sweep points and Pareto frontiers (lower left is better)",
    )
    ax.invert_yaxis()
    ax.legend(fontsize=7)
    # The summary the user asks for, under the plot (report.html shows the images only).
    table.axis("off")
    table.text(0, 1, summary_table(sweep), family="monospace", fontsize=7, va="top", parse_math=False)
    fig.tight_layout()
    fig.savefig(folder / name, dpi=90)
    plt.close(fig)
    return name
