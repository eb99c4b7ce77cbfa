"""Dashboards: committed JSON is what the code builds, and every panel query is valid
PromQL for a real Prometheus once Grafana's variables are substituted."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forescale.devstack.prometheus_server import PrometheusServer
from forescale.observability import dashboards
from forescale.observability.grafana import SUBSTITUTIONS, panel_queries, panels, single, substitute

COMMITTED = Path(__file__).resolve().parents[2] / "deploy" / "grafana"


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    with PrometheusServer() as server:
        yield server


def format_query(server: PrometheusServer, expr: str) -> dict[str, Any]:
    """Prometheus 2.42's syntax check (DESIGN.md: format_query, not parse_query)."""
    url = f"{server.url}/api/v1/format_query?{urllib.parse.urlencode({'query': expr})}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return dict(json.load(r))
    except urllib.error.HTTPError as exc:
        return dict(json.load(exc))


def all_queries() -> list[tuple[str, str, str]]:
    return [
        (name, title, expr)
        for name, make in dashboards.DASHBOARDS.items()
        for title, expr in panel_queries(make())
    ]


def test_committed_json_is_up_to_date(tmp_path: Path) -> None:
    written = dashboards.write_all(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in COMMITTED.glob("*.json"))
    for path in written:
        assert path.read_text() == (COMMITTED / path.name).read_text(), (
            f"{path.name} is stale: run `make dashboards` and commit deploy/grafana/"
        )


def test_four_dashboards_with_unique_uids_and_queries() -> None:
    boards = [make() for make in dashboards.DASHBOARDS.values()]
    assert len({b["uid"] for b in boards}) == 4
    for board in boards:
        names = [v["name"] for v in board["templating"]["list"]]
        assert names == ["datasource", "model", "pool"]  # the SLO comes from each policy
        assert len(list(panel_queries(board))) >= 5, board["uid"]
    assert len(all_queries()) >= 35


def test_every_panel_query_is_valid_promql(prometheus: PrometheusServer) -> None:
    bad = []
    for values in (SUBSTITUTIONS, {**SUBSTITUTIONS, "$model": "chat", "$pool": "spot-a|res"}):
        for name, title, expr in all_queries():
            answer = format_query(prometheus, substitute(expr, values))
            if answer["status"] != "success":
                bad.append(f"{name} / {title}: {answer.get('error')}")
    assert bad == []


def test_unsubstituted_query_is_rejected(prometheus: PrometheusServer) -> None:
    """The check has teeth: Grafana's own variables are not PromQL."""
    _, _, expr = next(q for q in all_queries() if "$__rate_interval" in q[2])
    assert format_query(prometheus, expr)["status"] == "error"
    assert format_query(prometheus, substitute(expr))["status"] == "success"


def boards() -> list[dict[str, Any]]:
    return [make() for make in dashboards.DASHBOARDS.values()]


def test_every_panel_has_a_description() -> None:
    for board in boards():
        for panel in panels(board):
            assert len(panel.get("description", "").split()) >= 5, (board["uid"], panel["title"])
    with pytest.raises(ValueError, match="needs a description"):
        single("Untitled", "short", "up")


def test_annotations_for_scale_events_interruptions_and_fallbacks() -> None:
    for board in boards():
        notes = {n["name"]: n for n in board["annotations"]["list"]}
        assert set(notes) == {"Scale events", "Spot interruptions", "Fallbacks (insufficient capacity)"}
        assert "forescale_controller_desired_replicas" in notes["Scale events"]["expr"]
        assert 'state="draining"' in notes["Spot interruptions"]["expr"]
        assert "InsufficientCapacity" in notes["Fallbacks (insufficient capacity)"]["expr"]
        assert all(n["enable"] and n["titleFormat"] for n in notes.values())


def test_the_slo_line_is_each_policys_own() -> None:
    """No fixed list of SLOs: the latency panel draws the gauge the controller sets from
    each policy's latency_slo_s, per model."""
    from prometheus_client import CollectorRegistry

    from forescale.controller.metrics import ControllerMetrics
    from forescale.core.model import Decision, PolicySpec

    latency = next(p for p in panels(dashboards.overview()) if p["title"].startswith("Latency"))
    slo = [t for t in latency["targets"] if t["legendFormat"] == "SLO {{model}}"]
    assert len(slo) == 1 and "forescale_controller_latency_slo_seconds" in slo[0]["expr"]
    registry = CollectorRegistry()
    metrics = ControllerMetrics(registry)
    for model, slo_s in (("chat", 2.5), ("embed", 0.3)):
        spec = PolicySpec(model=model, target_rps_per_replica=5, latency_slo_s=slo_s)
        metrics.decided(Decision(model=model, at=0.0, desired_replicas=1, winner="floor"), spec)
        assert (
            registry.get_sample_value("forescale_controller_latency_slo_seconds", {"model": model}) == slo_s
        )
    assert "$slo" not in json.dumps(boards())


def test_legends_are_tables_below_with_distinct_names() -> None:
    for board in boards():
        for panel in panels(board):
            if panel["type"] != "timeseries":
                continue
            legend = panel["options"]["legend"]
            assert (legend["displayMode"], legend["placement"]) == ("table", "bottom"), panel["title"]
            formats = [t["legendFormat"] for t in panel["targets"]]
            assert len(set(formats)) == len(formats), panel["title"]


def query_value(server: PrometheusServer, expr: str) -> list[Any]:
    url = f"{server.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=10) as r:
        result: list[Any] = json.load(r)["data"]["result"]
    return result


def test_count_panels_show_zero_not_no_data(prometheus: PrometheusServer) -> None:
    """Against a Prometheus where nothing fires, the alert panel's query answers 0."""
    stats = [p for b in boards() for p in panels(b) if p["type"] == "stat"]
    alerts = next(p for p in stats if p["title"] == "Firing forescale alerts")
    result = query_value(prometheus, substitute(alerts["targets"][0]["expr"]))
    assert [float(r["value"][1]) for r in result] == [0.0]
    assert all(p["fieldConfig"]["defaults"]["noValue"] == "0" for p in stats)


def test_substitute_handles_braced_and_overlapping_names() -> None:
    assert substitute('rate(x{m=~"${model}"}[$__rate_interval]) > $__range') == 'rate(x{m=~".*"}[1m]) > 1h'


def test_main_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert dashboards.main([]) == 2
    assert "usage" in capsys.readouterr().err
