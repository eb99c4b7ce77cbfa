"""`make dashboards` regenerates every generated monitoring file: the Grafana JSON and
the PrometheusRule object, with the modules' real command lines."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from forescale.observability import rules

ROOT = Path(__file__).resolve().parents[2]
RULE_OBJECT = "deploy/kubernetes/base/prometheusrule.yaml"


def recipe() -> list[list[str]]:
    """The target's commands as make would run them (-n: print only; -o: skip the venv)."""
    out = subprocess.run(
        ["make", "-n", "-s", "-o", ".venv/.installed-stamp", "dashboards"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    return [shlex.split(line) for line in out.splitlines() if line.strip()]


def test_make_dashboards_regenerates_grafana_and_the_prometheus_rule(tmp_path: Path) -> None:
    modules = {cmd[2]: cmd[3:] for cmd in recipe() if cmd[1:2] == ["-m"]}
    assert modules == {
        "forescale.observability.dashboards": ["deploy/grafana"],
        "forescale.observability.rules": [RULE_OBJECT],
    }
    # The rules command, pointed elsewhere, writes exactly the committed object.
    assert rules.main([str(tmp_path / "rule.yaml")]) == 0
    assert (tmp_path / "rule.yaml").read_text() == (ROOT / RULE_OBJECT).read_text()
