"""docs/metrics.md matches the registered metrics; names follow conventions; promtool
accepts every exposition; dashboards and rules use only metrics that exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from forescale.devstack.redis_server import require
from forescale.observability import catalog, dashboards
from forescale.observability.grafana import panel_queries

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "metrics.md"
RULES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yaml"))


def test_catalog_matches_the_code() -> None:
    assert catalog.diff(DOC) == []
    assert catalog.main([str(DOC)]) == 0


def test_catalog_notices_a_missing_row(tmp_path: Path) -> None:
    text = DOC.read_text().replace("`forescale_worker_busy_ratio` | gauge", "`forescale_worker_busy` | gauge")
    (tmp_path / "metrics.md").write_text(text)
    problems = catalog.diff(tmp_path / "metrics.md")
    assert len(problems) == 2 and all("busy" in p for p in problems)


@pytest.mark.parametrize(
    ("name", "type_", "labels", "complaint"),
    [
        ("router_requests_total", "counter", (), "prefix"),
        ("forescale_requests", "counter", (), "_total"),
        ("forescale_depth_total", "gauge", (), "_total"),
        ("forescale_latency_ms", "histogram", (), "base units"),
        ("forescale_tick_duration", "histogram", (), "seconds"),
        ("forescale_xy", "gauge", ("quantile",), "label"),
        ("forescale_xy", "gauge", ("Model",), "label"),
    ],
)
def test_conventions(name: str, type_: str, labels: tuple[str, ...], complaint: str) -> None:
    problems = catalog.convention_problems([catalog.MetricDef(name, type_, labels)])
    assert problems and all(complaint in p or "seconds" in p for p in problems)


@pytest.mark.parametrize("service", sorted(catalog.SERVICES))
def test_promtool_check_metrics(service: str) -> None:
    text = catalog.exposition(service)
    assert b"# TYPE forescale_" in text
    result = subprocess.run(
        [require("promtool", "prometheus"), "check", "metrics"], input=text, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def known_names() -> set[str]:
    names = {"ALERTS", "up"}
    for defs in catalog.registered().values():
        for d in defs:
            names.add(d.name)
            if d.type == "histogram":
                names |= {f"{d.name}_bucket", f"{d.name}_count", f"{d.name}_sum"}
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {r["record"] for r in group["rules"] if "record" in r}
    return names


def test_dashboards_and_rules_use_only_known_metrics() -> None:
    exprs = [expr for make in dashboards.DASHBOARDS.values() for _, expr in panel_queries(make())]
    for path in RULES:
        exprs += [r["expr"] for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]
    used = {m for e in exprs for m in re.findall(r"[a-z_]*:?forescale_[a-z0-9_]+(?::[a-z0-9_]+)?", e)}
    assert used - known_names() == set()
    assert len(used) > 30
