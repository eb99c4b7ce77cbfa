"""The Prometheus rules in deploy/prometheus/: valid for promtool, and unit-tested.

`promtool test rules` replays synthetic series through the real rule engine of the
Prometheus release we ship against (Debian 2.42), so these tests prove each alert fires
on the situation it names and stays quiet on the healthy one.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from forescale.devstack.redis_server import require
from forescale.observability import rules as rules_module

PROM = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yaml"))
TEST_FILES = sorted((PROM / "tests").glob("*.test.yaml"))

# The alert list (issue 7): each must exist and each must be unit-tested.
REQUIRED_ALERTS = {
    "ForescaleErrorBudgetBurnFast",
    "ForescaleErrorBudgetBurnSlow",
    "ForescaleQueueGrowing",
    "ForescaleSignalStale",
    "ForescaleSpotFallbackActive",
    "ForescaleReservationIdle",
    "ForescaleControllerNotLeading",
}


def promtool(*args: str, cwd: Path = PROM) -> subprocess.CompletedProcess[str]:
    exe = require("promtool", "prometheus")
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def rules() -> list[dict[str, object]]:
    out = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.extend(group["rules"])
    return out


def test_check_rules() -> None:
    result = promtool("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES)


def test_unit_tests_pass() -> None:
    result = promtool("test", "rules", *(p.name for p in TEST_FILES), cwd=PROM / "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TEST_FILES)


def test_required_alerts_exist_and_are_tested() -> None:
    alerts = {str(r["alert"]) for r in rules() if "alert" in r}
    assert alerts >= REQUIRED_ALERTS
    tested = set()
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check["exp_alerts"]:  # a case that proves it fires, not only silence
                    tested.add(check["alertname"])
    assert alerts - tested == set(), "alerts without a firing unit test"


def test_alerts_carry_severity_and_summary() -> None:
    for rule in rules():
        if "alert" in rule:
            assert rule["labels"]["severity"] in {"page", "ticket", "warning"}, rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]


def test_recording_rule_names_follow_convention() -> None:
    for rule in rules():
        if "record" in rule:
            level, metric, ops = str(rule["record"]).split(":")
            assert level and ops and metric.startswith("forescale_"), rule["record"]


def test_prometheus_rule_object_is_up_to_date() -> None:
    """deploy/kubernetes/base/prometheusrule.yaml wraps exactly these rule files."""
    committed = (PROM.parent / "kubernetes" / "base" / "prometheusrule.yaml").read_text()
    assert committed == rules_module.render(), (
        "stale: python -m forescale.observability.rules deploy/kubernetes/base/prometheusrule.yaml"
    )
    assert yaml.safe_load(committed)["spec"]["groups"] == [
        g for path in RULE_FILES for g in yaml.safe_load(path.read_text())["groups"]
    ]
