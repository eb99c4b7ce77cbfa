"""The documented example scenarios load, and the self-contained one runs as described."""

from __future__ import annotations

from pathlib import Path

import pytest

from forescale.sim.run import simulate
from forescale.sim.scenario import load_scenario
from forescale.traces.synthetic import Workload, synthetic_trace

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "forescale/sim/scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate(path: Path) -> None:
    scenario = load_scenario(path)  # availability files are read only when simulating
    assert scenario.pools
    assert scenario.policy.model == scenario.model.name
    assert scenario.policy.latency_slo_s == scenario.slo.latency_s


def test_spot_vanishes_example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Its availability file is relative to the scenario file, from any folder."""
    monkeypatch.chdir(tmp_path)
    scenario = load_scenario(REPO / "forescale/sim/scenarios/spot-vanishes.yaml")
    trace = synthetic_trace(2 * 3600, Workload(mean_rps=8, daily_amplitude=0, bursts_per_day=0), seed=5)
    out = simulate(trace, scenario, ["forescale", "forescale-on-demand", "oracle"])
    rows = out.results["policies"]
    assert rows["forescale"]["slo_attainment"] > 0.999
    assert rows["forescale"]["preemptions"] > 0
    # After 600 s spot is gone, so spot saves little here: within 30 % of on-demand only.
    assert rows["forescale"]["cost_usd"] > 0.7 * rows["forescale-on-demand"]["cost_usd"]
