"""Small helpers over grafana-foundation-sdk: panels, queries and the shared variables.

Every dashboard has the same variables: ``datasource`` (a Prometheus), ``model`` and
``pool`` (multi-select, "All" = ``.*``) and ``slo`` (latency objective in seconds, drawn
as a line against p99). ``SUBSTITUTIONS`` holds the values the tests put in their place
to run each panel query against a real Prometheus, as Grafana would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from grafana_foundation_sdk.builders import common, prometheus, stat, timeseries
from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import StackingMode
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
SLO_CHOICES = ("1.5", "0.5", "1", "2.5", "5", "10")

# What Grafana would put in place of each variable (All selected, default SLO).
SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$model": ".*",
    "$pool": ".*",
    "$slo": SLO_CHOICES[0],
}


def query(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    return (
        prometheus.Dataquery().expr(expr).legend_format(legend or "__auto").ref_id(ref).datasource(DATASOURCE)
    )


def _targets(panel: Any, queries: list[tuple[str, str]]) -> Any:
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(query(expr, legend, ref=chr(ord("A") + i)))
    return panel


def graph(
    title: str,
    unit: str,
    *queries: tuple[str, str],
    description: str = "",
    width: int = 12,
    stacked: bool = False,
) -> Any:
    """A time series panel; ``queries`` are ``(promql, legend)`` pairs."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .height(8)
        .span(width)
        .fill_opacity(40 if stacked else 10)
    )
    if stacked:
        panel = panel.stacking(common.StackingConfig().mode(StackingMode.NORMAL))
    return _targets(panel, list(queries))


def single(title: str, unit: str, expr: str, legend: str = "", description: str = "", width: int = 6) -> Any:
    """A stat panel showing the last value."""
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .height(4)
        .span(width)
    )
    return _targets(panel, [(expr, legend)])


def _label_variable(name: str, metric: str, label: str) -> gd.QueryVariable:
    return (
        gd.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query({"query": f"label_values({metric}, {name})", "refId": f"{name}-values"})
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


def variables() -> list[Any]:
    slo = (
        gd.CustomVariable("slo")
        .label("Latency SLO (s)")
        .values(",".join(SLO_CHOICES))
        .current(VariableOption(selected=True, text=SLO_CHOICES[0], value=SLO_CHOICES[0]))
    )
    return [
        gd.DatasourceVariable("datasource").label("Prometheus").type("prometheus"),
        _label_variable("model", "forescale_router_requests_total", "Model"),
        _label_variable("pool", "forescale_controller_pool_nodes", "Pool"),
        slo,
    ]


def build(uid: str, title: str, description: str, rows: list[tuple[str, list[Any]]]) -> dict[str, Any]:
    """A dashboard as a plain dict (the JSON Grafana imports)."""
    board = (
        gd.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["forescale", "generated"])
        .refresh("30s")
        .time("now-3h", "now")
        .timezone("browser")
        .readonly()
        .variables(variables())
    )
    for row_title, panels in rows:
        board = board.with_row(gd.Row(row_title))
        for panel in panels:
            board = board.with_panel(panel)
    text = json.dumps(board.build(), cls=JSONEncoder, sort_keys=True)
    result: dict[str, Any] = json.loads(text)
    return result


def panel_queries(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(panel title, expr)`` for every query of every panel (rows included)."""
    for panel in board.get("panels", []):
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets") or []:
                if target.get("expr"):
                    yield inner["title"], target["expr"]


def substitute(expr: str, values: dict[str, str] | None = None) -> str:
    """Replace Grafana variables (``$name``, ``${name}``) with concrete values."""
    table = values or SUBSTITUTIONS
    expr = re.sub(r"\$\{(\w+)\}", r"$\1", expr)
    # Longest first: `$__rate_interval` before `$__range`, `$model` not inside another.
    for name in sorted(table, key=len, reverse=True):
        expr = expr.replace(name, table[name])
    return expr
