"""Small helpers over grafana-foundation-sdk: panels, queries and the shared variables.

Every dashboard has the same variables: ``datasource`` (a Prometheus), ``model`` and
``pool`` (multi-select, "All" = ``.*``); the latency objective is each policy's own
(``forescale_controller_latency_slo_seconds``), not a fixed list. Every dashboard carries
the same annotations: scale events, spot interruptions and spot-to-on-demand fallbacks.
Every panel has a description (a ValueError otherwise), and time series legends are
tables under the chart, one row per series, so long label sets never overlap the plot or
each other. ``SUBSTITUTIONS`` holds the values the tests put in place of the variables
to run each query against a real Prometheus, as Grafana would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from grafana_foundation_sdk.builders import common, prometheus, stat, timeseries
from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import LegendDisplayMode, LegendPlacement, StackingMode
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")

# (name, colour, PromQL, title of each mark): on every time series panel of every dashboard.
ANNOTATIONS = (
    (
        "Scale events",
        "blue",
        'changes(forescale_controller_desired_replicas{model=~"$model"}[1m]) > 0',
        "{{model}} scaled",
    ),
    (
        "Spot interruptions",
        "orange",
        'sum by (pool) (forescale_controller_pool_nodes{capacity_type="spot",state="draining",'
        'pool=~"$pool"}) > 0',
        "spot nodes draining in {{pool}}",
    ),
    (
        "Fallbacks (insufficient capacity)",
        "red",
        'sum(increase(forescale_controller_errors_total{kind="InsufficientCapacity"}[1m])) > 0',
        "insufficient capacity: falling back to another pool / on-demand",
    ),
)

# What Grafana would put in place of each variable (All selected, default SLO).
SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$model": ".*",
    "$pool": ".*",
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
    _described(title, description)
    legend = (
        common.VizLegendOptions()
        .show_legend(True)
        .display_mode(LegendDisplayMode.TABLE)
        .placement(LegendPlacement.BOTTOM)
        .calcs(["lastNotNull", "max"])
    )
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .height(10)
        .span(width)
        .fill_opacity(40 if stacked else 10)
        .legend(legend)
    )
    if stacked:
        panel = panel.stacking(common.StackingConfig().mode(StackingMode.NORMAL))
    return _targets(panel, list(queries))


def single(title: str, unit: str, expr: str, legend: str = "", description: str = "", width: int = 6) -> Any:
    """A stat panel showing the last value; "0" rather than "No data" when the query is
    empty (a count of nothing firing is zero)."""
    _described(title, description)
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .height(4)
        .span(width)
        .no_value("0")
    )
    return _targets(panel, [(expr, legend)])


def _described(title: str, description: str) -> None:
    if not description.strip():
        raise ValueError(f"panel {title!r}: every panel needs a description (what it shows, how to read it)")


def annotation_queries() -> list[Any]:
    return [
        gd.AnnotationQuery().name(name).datasource(DATASOURCE).enable(True).icon_color(colour).expr(expr)
        for name, colour, expr, _ in ANNOTATIONS
    ]


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
    return [
        gd.DatasourceVariable("datasource").label("Prometheus").type("prometheus"),
        _label_variable("model", "forescale_router_requests_total", "Model"),
        _label_variable("pool", "forescale_controller_pool_nodes", "Pool"),
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
        .annotations(annotation_queries())
    )
    for row_title, panels in rows:
        board = board.with_row(gd.Row(row_title))
        for panel in panels:
            board = board.with_panel(panel)
    text = json.dumps(board.build(), cls=JSONEncoder, sort_keys=True)
    result: dict[str, Any] = json.loads(text)
    # Grafana's Prometheus annotation fields the SDK's model lacks: a title per mark, one
    # mark per step at most.
    titles = {name: title for name, _, _, title in ANNOTATIONS}
    for note in result.get("annotations", {}).get("list", []):
        note |= {
            "titleFormat": titles.get(note["name"], note["name"]),
            "step": "1m",
            "useValueForTime": False,
        }
    return result


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that shows data (not the rows themselves), rows' panels included."""
    for panel in board.get("panels", []):
        for inner in [panel, *panel.get("panels", [])]:
            if inner.get("type") != "row":
                yield inner


def panel_queries(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(panel title, expr)`` for every query of every panel (rows included) and every
    annotation (titled ``annotation NAME``)."""
    for inner in panels(board):
        for target in inner.get("targets") or []:
            if target.get("expr"):
                yield inner["title"], target["expr"]
    for note in board.get("annotations", {}).get("list", []):
        if note.get("expr"):
            yield f"annotation {note['name']}", note["expr"]


def substitute(expr: str, values: dict[str, str] | None = None) -> str:
    """Replace Grafana variables (``$name``, ``${name}``) with concrete values."""
    table = values or SUBSTITUTIONS
    expr = re.sub(r"\$\{(\w+)\}", r"$\1", expr)
    # Longest first: `$__rate_interval` before `$__range`, `$model` not inside another.
    for name in sorted(table, key=len, reverse=True):
        expr = expr.replace(name, table[name])
    return expr
