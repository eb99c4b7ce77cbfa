"""The demo's spot outage replayed through the simulator: forescale moves spot-a's
replicas to spot-b in the notice's tick (no launch refused in spot-a) and buys no on-demand
node for a queue the replacements drain before one could be ready; the hpa-karpenter
replay gets the same scenario, policy durations scaled by the same factor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from forescale.sim.engine import Simulation
from forescale.stack import peer
from forescale.stack.replay import ReplayPolicy, history_s, scenario
from forescale.stack.scenario import K8S_TIME_SCALE, DemoPlan, outage_seconds, policy, pools

T0 = 1_700_000_000.0
LOAD_S = 4.3  # worker start measured live in the last demo run


def test_the_outage_moves_to_spot_b_at_once_and_buys_no_late_on_demand(tmp_path: Path) -> None:
    plan = DemoPlan()
    spec = policy(plan)
    scen = scenario(plan, pools(), spec, LOAD_S, tmp_path / "avail.json")
    pad = history_s(spec)
    # 6 replicas' worth at the 2.8 req/s target, from before the load (no idle warm-up)
    sim = Simulation(scen, np.full(pad + int(plan.load_s), 15.0), T0 - pad)
    run = sim.run(ReplayPolicy(scen, {"reserved-a": 2, "spot-a": 4}, None))  # as in the last live run
    a, b = outage_seconds(plan)
    spot_a, spot_b, on_demand = (sim.cluster.pools[n] for n in ("spot-a", "spot-b", "on-demand"))
    assert spot_a.preemptions == 4  # the outage took spot-a's four nodes
    # No on-demand node: the queue built while spot-b started drains on spot-b's replicas.
    assert on_demand.cost_usd == 0.0
    assert spot_a.insufficient_at is None  # nothing launched there after the notice
    assert len(spot_b.nodes) == 4
    ready = run.ready[pad:]
    lead = pools()[1].lead_time_s
    back = a + int(lead + LOAD_S) + 1  # spot-b launched in the notice's tick, then loaded
    assert ready[back : b + 10].min() >= 6
    assert run.dropped.sum() == 0


def test_both_policies_share_one_time_scale() -> None:
    spec = policy(DemoPlan())
    k = spec.unavailable_pool_ttl_s / peer.UNAVAILABLE_TTL_S  # the factor the peer replay uses
    assert k == pytest.approx(K8S_TIME_SCALE)
    assert k == pytest.approx(10 / 180)
    # forescale's rate rules are the HPA defaults the peer gets, scaled alike (stack/peer.py)
    assert [r.period_s for r in spec.scale_up.rules] == pytest.approx([15 * k] * 2)
    assert spec.scale_down.stabilization_window_s == pytest.approx(300 * k)
    assert [r.period_s for r in spec.scale_down.rules] == pytest.approx([15 * k])
    assert spec.prescale.service_rps_per_replica == DemoPlan().capacity_rps
