"""``forescale simulate`` end to end: outputs, results.json schema, and bad input (exit 2,
one line naming file/line/field, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sim_helpers import START, base_scenario, write_scenario

from forescale.cli import main
from forescale.sim.run import POLICY_NAMES

POLICY_KEYS = {
    "requests",
    "slo_attainment",
    "dropped",
    "p50_latency_s",
    "p99_latency_s",
    "gpu_hours",
    "cost_usd",
    "spot_fraction",
    "preemptions",
    "cost_vs_oracle",
}


def request_trace(path: Path, seconds: int = 1800, rps: float = 4.0) -> Path:
    rng = np.random.default_rng(0)
    counts = rng.poisson(rps, seconds)
    times = np.repeat(START + np.arange(seconds), counts) + rng.random(int(counts.sum()))
    path.write_text("timestamp,tokens\n" + "".join(f"{t:.3f},{i % 50}\n" for i, t in enumerate(times)))
    return path


def run_cli(tmp_path: Path, *extra: str, scenario: dict[str, Any] | None = None) -> int:
    sc = write_scenario(tmp_path / "scenario.yaml", scenario or base_scenario())
    trace = tmp_path / "trace.csv"
    if not trace.exists():
        request_trace(trace)
    args = ["simulate", "--trace", str(trace), "--scenario", str(sc), "--out", str(tmp_path / "out"), *extra]
    return main(args)


def test_simulate_writes_results_report_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(tmp_path, "--policies", ",".join(POLICY_NAMES)) == 0
    out = tmp_path / "out"
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"trace", "policies"}
    assert list(results["policies"]) == list(POLICY_NAMES)
    for row in results["policies"].values():
        assert set(row) == POLICY_KEYS
        assert 0.0 <= row["slo_attainment"] <= 1.0
        assert row["cost_usd"] > 0
    assert results["policies"]["oracle"]["cost_vs_oracle"] == 1.0
    assert results["trace"]["requests"] == results["policies"]["static"]["requests"]
    html = (out / "report.html").read_text()
    for png in ("capacity.png", "cost.png", "latency.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
        assert png in html
    table = capsys.readouterr().out
    assert "slo_attainment" in table and "forescale-on-demand" in table
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp dir left


def bad_trace_row(tmp_path: Path, doc: dict[str, Any]) -> None:
    (tmp_path / "trace.csv").write_text(f"timestamp\n{START}\n{START + 1}\nnot-a-time\n")


def negative_price(tmp_path: Path, doc: dict[str, Any]) -> None:
    doc["pools"][2]["price_per_node_hour"] = -3


def keep(tmp_path: Path, doc: dict[str, Any]) -> None:
    return None


BAD_INPUT = [
    # (how to break it, extra args, what the one line must say)
    (bad_trace_row, [], ["trace.csv", "line 4", "'timestamp'"]),
    (negative_price, [], ["scenario.yaml", "line ", "pools.2.price_per_node_hour"]),
    (keep, ["--policies", "forescale,magic"], ["unknown policy 'magic'"]),
    (keep, ["--forecaster", "crystal-ball"], ["unknown forecaster 'crystal-ball'"]),
    (keep, ["--time-column", "nope"], ["trace.csv", "no column 'nope'"]),
]


@pytest.mark.parametrize(("breaker", "extra", "expected"), BAD_INPUT)
def test_bad_input_is_one_line_exit_2_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], breaker: Any, extra: list[str], expected: list[str]
) -> None:
    request_trace(tmp_path / "trace.csv", seconds=60)
    doc = base_scenario()
    breaker(tmp_path, doc)
    assert run_cli(tmp_path, *extra, scenario=doc) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("forescale simulate: error: ")
    for text in expected:
        assert text in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


SCENARIO_ERRORS = [
    ("model:\n  service_rate_rps: [1\n", "not valid YAML"),
    ("- just\n- a list\n", "line 1: expected a mapping"),
    (
        "slo: {latency_s: 5}\nmodel: {service_rate_rps: 1}\npools: []\npolicy: {target_rps_per_replica: 1}\n",
        "line 3: pools: ",
    ),
    (
        "slo: {latency_s: 5}\nmodel: {service_rate_rps: 1}\npools:\n  - name: a\n"
        "    capacity_type: spot\n    price_per_node_hour: 1\n    max_nodes: 2\n    colour: red\n"
        "policy: {target_rps_per_replica: 1}\n",
        "line 8: pools.0.colour: Extra inputs are not permitted",
    ),
    (
        "slo: {latency_s: 5}\nmodel: {service_rate_rps: 1}\npools:\n  - {name: a, capacity_type: spot, "
        "price_per_node_hour: 1, max_nodes: 2}\n"
        "policy: {target_rps_per_replica: 1, min_replicas: 9, max_replicas: 2}\n",
        "line 5: policy: Value error, min_replicas must be <= max_replicas",
    ),
]


@pytest.mark.parametrize(("text", "expected"), SCENARIO_ERRORS)
def test_scenario_errors_name_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    request_trace(tmp_path / "trace.csv", seconds=60)
    (tmp_path / "bad.yaml").write_text(text)
    args = [
        "simulate",
        "--trace",
        str(tmp_path / "trace.csv"),
        "--scenario",
        str(tmp_path / "bad.yaml"),
        "--out",
        str(tmp_path / "out"),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str(tmp_path / "bad.yaml") in err
    assert expected in err
    assert not (tmp_path / "out").exists()
