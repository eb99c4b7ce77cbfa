"""``forescale simulate --sweep``: points per knob, Pareto frontiers, cost to reach a level."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sim_helpers import base_scenario, scenario
from test_cli import run_cli

from forescale.sim.sweep import PRESCALE_OFF, below, cost_to_reach, pareto, settings


def pt(att: float, cost: float) -> dict[str, float]:
    return {"slo_attainment": att, "cost_usd": cost}


def test_pareto_keeps_points_no_cheaper_point_matches() -> None:
    points = [pt(0.99, 10), pt(0.999, 12), pt(0.98, 11), pt(0.999, 15), pt(0.9999, 20), pt(0.95, 9)]
    assert pareto(points) == [pt(0.95, 9), pt(0.99, 10), pt(0.999, 12), pt(0.9999, 20)]


def test_cost_to_reach_is_the_cheapest_point_at_or_above_the_level() -> None:
    points = [pt(0.99, 10), pt(0.9991, 14), pt(0.9995, 12), pt(0.98, 5)]
    assert cost_to_reach(points, 0.999) == pt(0.9995, 12)
    assert cost_to_reach(points, 0.99) == pt(0.99, 10)
    assert cost_to_reach(points, 0.9999) is None


def test_peer_points_below_forescale_are_listed() -> None:
    points = {
        "forescale": [pt(0.99, 10), pt(0.999, 14)],
        "hpa-karpenter": [pt(0.98, 9), pt(0.99, 11), pt(0.999, 12)],
        "clairvoyant": [pt(1.0, 1)],
    }
    assert below(points, "forescale") == [
        {"policy": "hpa-karpenter", **pt(0.98, 9)},
        {"policy": "hpa-karpenter", **pt(0.999, 12)},
    ]


def test_each_policy_sweeps_its_knob() -> None:
    sc = scenario(base_scenario())
    got = settings(sc, ["forescale", "hpa-karpenter", "keda-queue", "clairvoyant", "oracle"])
    series = {s.series for s in got}
    assert series == {"forescale", PRESCALE_OFF, "hpa-karpenter", "keda-queue", "clairvoyant", "oracle"}
    hk = [s.knob for s in got if s.series == "hpa-karpenter"]
    # up to 100 %: the peer's cheapest point can be there (fair-evaluation.md, third pass)
    assert hk == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9, 1.0])  # x service rate 1.0
    off = [s.spec["target_rps_per_replica"] for s in got if s.series == PRESCALE_OFF]
    assert off == pytest.approx(hk)  # forescale's own frontier is swept over the same targets
    fq = {(s.prescale.get("quantile"), s.prescale.get("headroom")) for s in got if s.series == "forescale"}
    assert {(0.5, 0.0), (0.9, 0.25), (0.99, 0.0)} <= fq
    assert all(s.prescale == {"mode": "off"} for s in got if s.series == PRESCALE_OFF)


def test_simulate_sweep_writes_points_frontier_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(tmp_path, "--policies", "hpa-karpenter,keda-queue,oracle", "--sweep") == 0
    out = tmp_path / "out"
    sweep = json.loads((out / "results.json").read_text())["sweep"]
    assert set(sweep) == {"points", "frontier", "cost_to_reach", "below_forescale"}
    assert len(sweep["points"]["hpa-karpenter"]) == 6
    assert len(sweep["points"]["keda-queue"]) == 5
    for name, front in sweep["frontier"].items():
        costs = [p["cost_usd"] for p in front]
        atts = [p["slo_attainment"] for p in front]
        assert costs == sorted(costs) and atts == sorted(atts), name
        assert all(p in sweep["points"][name] for p in front)
    assert set(sweep["cost_to_reach"]) == {"99.00%", "99.90%", "99.99%"}
    assert sweep["cost_to_reach"]["99.99%"]["oracle"]["cost_vs_oracle"] == 1.0
    assert (out / "frontier.png").stat().st_size > 0
    assert "frontier.png" in (out / "report.html").read_text()
    assert "cost to reach 99.90%" in capsys.readouterr().out
