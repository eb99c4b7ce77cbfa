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
from forescale.observability.grafana import SUBSTITUTIONS, panel_queries, substitute

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
        assert names == ["datasource", "model", "pool", "slo"]
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


def test_substitute_handles_braced_and_overlapping_names() -> None:
    assert substitute('rate(x{m=~"${model}"}[$__rate_interval]) > $__range') == 'rate(x{m=~".*"}[1m]) > 1h'


def test_main_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert dashboards.main([]) == 2
    assert "usage" in capsys.readouterr().err
