"""``report.html`` with PNG charts beside it (``plots.py``), and the summary table for the
terminal.

The table leads with what a user decides on: SLO attainment, cost, and what the policy
saves against a peer (the first of ``PEERS`` that ran: the HPA-style baseline, else the
static peak-sized one, else forescale without spot), then the detail.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forescale.sim.plots import REAL_EPOCH, write_plots

__all__ = ["peer_of", "summary_table", "table_rows", "write_html", "write_plots"]

PEERS = ("hpa", "static", "forescale-on-demand")

# (key in the results row, header, format); `savings` is computed against the peer.
COLUMNS = (
    ("policy", "policy", "{}"),
    ("slo_attainment", "SLO attainment", "{:.4%}"),
    ("cost_usd", "cost (USD)", "${:,.2f}"),
    ("savings", "savings vs {peer}", "{:+.1%}"),
    ("cost_vs_oracle", "cost x oracle", "{:.2f}"),
    ("requests", "requests", "{:,}"),
    ("dropped", "dropped", "{:,}"),
    ("p50_latency_s", "p50 latency (s)", "{:.2f}"),
    ("p99_latency_s", "p99 latency (s)", "{:.2f}"),
    ("gpu_hours", "GPU-hours", "{:,.1f}"),
    ("spot_fraction", "spot share", "{:.1%}"),
    ("preemptions", "preemptions", "{:,}"),
)


def peer_of(results: dict[str, Any]) -> str | None:
    """The baseline the savings column compares against, when one of them ran."""
    return next((p for p in PEERS if p in results["policies"]), None)


def headers(results: dict[str, Any]) -> list[str]:
    peer = peer_of(results)
    return [h.format(peer=peer) for key, h, _ in COLUMNS if key != "savings" or peer]


def table_rows(results: dict[str, Any]) -> list[list[str]]:
    peer = peer_of(results)
    peer_cost = results["policies"][peer]["cost_usd"] if peer else None
    rows = []
    for name, row in results["policies"].items():
        cells = []
        for key, _, fmt in COLUMNS:
            if key == "savings":
                if peer is None:
                    continue
                value = None if name == peer or not peer_cost else 1 - row["cost_usd"] / peer_cost
                cells.append("(peer)" if name == peer else "-" if value is None else fmt.format(value))
                continue
            value = name if key == "policy" else row[key]
            cells.append("-" if value is None else fmt.format(value))
        rows.append(cells)
    return rows


def summary_table(results: dict[str, Any]) -> str:
    rows = [headers(results), *table_rows(results)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
    return "\n".join(lines)


def _when(epoch: float) -> str:
    if epoch > REAL_EPOCH:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"t = {epoch:g} s (relative timestamps)"


def _length(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    return f"{seconds / 3600:.1f} hours" if seconds >= 7200 else f"{seconds / 60:.0f} minutes"


def trace_facts(trace: dict[str, Any]) -> list[tuple[str, str]]:
    """The trace summary as (label, readable value)."""
    facts = [
        ("trace", str(trace.get("source", ""))),
        ("scenario", f"{trace.get('scenario', '')} ({trace.get('scenario_file', '')})"),
        ("from", f"{_when(trace['start'])}, {_length(trace['duration_s'])}"),
        (
            "requests",
            f"{trace['requests']:,} (mean {trace['mean_rps']:,.1f} req/s, "
            f"peak {trace['peak_rps_1s']:,.0f} req/s in one second)",
        ),
        ("peak need", f"{trace['peak_need_replicas']:,} replicas"),
        ("forecaster", str(trace.get("forecaster", ""))),
    ]
    return facts


CAPTIONS = {
    "capacity.png": "Grey: replicas the demand needed. Line: replicas each policy had ready. "
    "Both are means over the same bins.",
    "cost.png": "What each policy has spent so far; the final figure is at the end of each line.",
    "latency.png": "The slowest request in each bin (log scale); above the dashed line is an SLO miss.",
    "cost-slo.png": "Each policy's cost and SLO attainment; a sweep's frontier is drawn here when present.",
}


def write_html(results: dict[str, Any], images: list[str], path: Path) -> None:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers(results))
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table_rows(results)
    )
    facts = "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in trace_facts(results["trace"])
    )
    figures = "".join(
        f'<figure><img src="{html.escape(i)}" alt="{html.escape(i)}">'
        f"<figcaption>{html.escape(CAPTIONS.get(i, ''))}</figcaption></figure>"
        for i in images
    )
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>forescale simulate</title><style>"
        "body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1320px;color:#222}"
        "table{border-collapse:collapse;margin:12px 0}td,th{padding:4px 10px;text-align:right;"
        "border-bottom:1px solid #ddd}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
        "td:nth-child(-n+4){font-weight:600}dl{display:grid;grid-template-columns:max-content auto;"
        "gap:2px 16px;margin:8px 0}dt{color:#666}dd{margin:0}figure{margin:18px 0}img{width:100%;"
        "height:auto}figcaption{color:#555;font-size:90%}</style></head>"
        f"<body><h1>forescale simulate: {html.escape(str(results['trace'].get('scenario', '')))}</h1>"
        f"<dl>{facts}</dl><table><tr>{head}</tr>{body}</table>{figures}</body></html>\n"
    )
