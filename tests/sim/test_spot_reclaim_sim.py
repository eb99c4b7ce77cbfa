"""A spot pool's capacity taken back mid-run: forescale's replacements go to the other spot
pool in the notice's tick (core/poolview.py), none is refused in the reclaimed pool, and
the serving replicas are back a tick sooner than when the shortfall moved a tick later."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from sim_helpers import START, availability_file, base_scenario, scenario

from forescale.sim.engine import Simulation
from forescale.sim.policies import CorePolicy

TICK_S = 60.0
RECLAIM_AT = 1200  # spot-a's availability falls to zero here (the trace's third 600-s step)
NOTICE_S = 120.0
LEAD_S = 120.0
LOAD_S = 30.0


def _scenario(tmp_path: Path) -> dict[str, object]:
    doc = base_scenario(tick_s=TICK_S)
    reserved, _, on_demand = doc["pools"]  # type: ignore[misc]
    avail = availability_file(tmp_path, 600, [1, 1, 0, 0, 0, 0])
    spot = [
        {
            "name": name,
            "capacity_type": "spot",
            "price_per_node_hour": price,
            "max_nodes": 4,
            "launch_delay": {"kind": "fixed", "low_s": LEAD_S},
            "spot": {"notice_s": NOTICE_S} | ({"availability": {"path": str(avail)}} if trace else {}),
        }
        for name, price, trace in (("spot-a", 1.0, True), ("spot-b", 1.2, False))
    ]
    doc["pools"] = [reserved, *spot, on_demand]
    doc["model"] = {"name": "m", "service_rate_rps": 1.0, "service_time_s": 1, "load_time_s": LOAD_S}
    doc["policy"] = {
        "target_rps_per_replica": 0.8,
        "min_replicas": 1,
        "max_replicas": 12,
        "spot_max_fraction": 1.0,
        "scale_down": {
            "stabilization_window_s": 300,
            "rules": [{"type": "percent", "value": 100, "period_s": 60}],
        },
    }
    return doc


def test_a_reclaimed_spot_pool_is_replaced_on_the_other_in_the_notice_tick(tmp_path: Path) -> None:
    scen = scenario(_scenario(tmp_path))
    demand = np.full(2400, 4.5)  # 6 replicas at 0.8 req/s each: 2 reserved, 2 + 2 spot
    sim = Simulation(scen, demand, START)
    run = sim.run(CorePolicy("forescale", scen, None, math.inf))
    pools = sim.cluster.pools
    # The warm start spread the spot replicas over both pools; spot-a was reclaimed whole.
    assert pools["spot-a"].preemptions == 2
    # Nothing was launched into spot-a after its notice: no insufficient capacity there.
    assert pools["spot-a"].insufficient_at is None
    # Notice at 1200, nodes gone at 1320; the replacements, launched on spot-b at 1200, serve
    # from 1200 + lead + load. A shortfall moved a tick later would serve from 1380 on.
    back = RECLAIM_AT + int(LEAD_S + LOAD_S)
    assert run.ready[RECLAIM_AT + int(NOTICE_S) : back].min() == 4
    assert run.ready[back : back + 600].min() == 6
    assert len(pools["spot-b"].healthy(START + 2399)) == 4
    assert run.dropped.sum() == 0
