"""``forescale simulate`` end to end: outputs, results.json schema, and bad input (exit 2,
one line naming file/line/field, nothing written)."""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sim_helpers import START, base_scenario, write_scenario

from forescale.cli import main
from forescale.sim.report import table_rows
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
    for png in ("capacity.png", "cost.png", "latency.png", "cost-slo.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
        assert png in html
    table = capsys.readouterr().out
    head = table.splitlines()[0].split("  ")
    assert [h.strip() for h in head if h.strip()][:4] == [
        "policy",
        "SLO attainment",
        "cost (USD)",
        "savings vs hpa",
    ]
    assert "forescale-on-demand" in table and "(peer)" in table
    assert (out.stat().st_mode & 0o777) == 0o777 & ~current_umask()  # like any folder the user makes
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp dir left


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_report_reads_like_a_report(tmp_path: Path) -> None:
    """Dates on the time axis, the decision columns first, savings against the peer."""
    assert run_cli(tmp_path, "--policies", "forescale,hpa,static", "--quiet") == 0
    html = (tmp_path / "out" / "report.html").read_text()
    assert "2023-11-14 00:00 UTC" in html and "30 minutes" in html  # the trace's start, readably
    heads = re.findall(r"<th>([^<]*)</th>", html)
    assert heads[:4] == ["policy", "SLO attainment", "cost (USD)", "savings vs hpa"]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    rows = {r[0]: r for r in table_rows(results)}
    cost = {n: results["policies"][n]["cost_usd"] for n in ("forescale", "hpa", "static")}
    assert rows["hpa"][3] == "(peer)"
    assert rows["static"][3] == f"{1 - cost['static'] / cost['hpa']:+.1%}"
    assert rows["static"][2] == f"${cost['static']:,.2f}"


def test_capacity_chart_compares_like_with_like(tmp_path: Path) -> None:
    """Need and ready are the same statistic per bin, so the oracle, which has every
    second's need ready, never draws below the need line (it did with max vs mean)."""
    from forescale.sim.plots import bin_s, binned, capacity_series
    from forescale.sim.run import simulate
    from forescale.sim.scenario import load_scenario
    from forescale.traces.synthetic import Workload, synthetic_trace

    sc = load_scenario(write_scenario(tmp_path / "s.yaml", base_scenario()))
    trace = synthetic_trace(4 * 3600, Workload(mean_rps=3, bursts_per_day=40), seed=2)
    outcome = simulate(trace, sc, ["forescale", "oracle"])
    width = bin_s(len(outcome.demand))
    series = capacity_series(outcome, width)
    assert np.all(series["oracle"] >= series["need"] - 1e-9)
    old_need = binned(outcome.need, width, "max")  # the old chart's need line
    assert np.any(series["oracle"] < old_need)  # ... which the oracle crossed


def test_cost_labels_do_not_overlap() -> None:
    from forescale.sim.plots import spread

    at = spread({"a": 100.0, "b": 101.0, "c": 300.0}, 10.0)
    assert at == {"a": 100.0, "b": 110.0, "c": 300.0}


def test_a_tarball_trace_is_one_line_naming_its_members(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    members = [request_trace(tmp_path / f"day{i}.csv", seconds=30) for i in range(3)]
    with tarfile.open(tmp_path / "traces.tar.gz", "w:gz") as tar:
        for m in members:
            tar.add(m, arcname=m.name)
    sc = write_scenario(tmp_path / "scenario.yaml", base_scenario())
    args = [
        "simulate",
        "--trace",
        str(tmp_path / "traces.tar.gz"),
        "--scenario",
        str(sc),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "a tar archive (day0.csv, day1.csv, day2.csv)" in err and "tar -xf" in err


def test_scenario_paths_are_relative_to_the_scenario_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forescale.sim.scenario import load_scenario

    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "avail.json").write_text('{"metadata": {"gap_seconds": 60}, "data": [1, 0]}')
    doc = base_scenario()
    doc["pools"][1]["spot"]["availability"] = {"path": "avail.json"}
    write_scenario(folder / "s.yaml", doc)
    monkeypatch.chdir(tmp_path)  # not the scenario's folder
    sc = load_scenario("scenarios/s.yaml")
    spot = sc.pools[1].spot
    assert spot is not None and spot.availability is not None
    assert Path(spot.availability.path).resolve() == (folder / "avail.json").resolve()


def test_progress_only_on_a_terminal_and_not_with_quiet() -> None:
    from forescale.progress import progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    for enabled, stream, shows in ((True, Tty(), True), (False, Tty(), False), (True, io.StringIO(), False)):
        with progress(enabled, stream) as report:
            report("forescale", 0.5)
            report("forescale", 1.0)
        assert ("forescale" in stream.getvalue()) is shows
        assert ("100.0 %" in stream.getvalue()) is shows


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
