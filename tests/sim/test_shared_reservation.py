"""Two models sharing a reservation through the pool state machine the simulator, the
fake and the local provider share: the tick never asks it for more than it holds."""

from __future__ import annotations

import pytest

from forescale.core.clock import ManualClock
from forescale.core.errors import ReservationExhausted
from forescale.core.execute import Ports, drive, execute
from forescale.core.model import Observation, PolicySpec, PoolSpec
from forescale.core.observe import assemble
from forescale.core.ports import Signals
from forescale.core.tick import plan_tick
from forescale.sim.fakes import FakeNodePoolProvider, FakeReplicaSetter

RES = PoolSpec(name="res", capacity_type="reserved", price_per_node_hour=2.0, gpus_per_node=8, max_nodes=1,
               reservation_nodes=1, lead_time_s=60)  # fmt: skip
OD = PoolSpec(name="od", capacity_type="on-demand", price_per_node_hour=4.0, gpus_per_node=8, max_nodes=4,
              lead_time_s=60)  # fmt: skip
SPECS = [PolicySpec(model=m, target_rps_per_replica=10, min_replicas=8, max_replicas=8) for m in ("a", "b")]


def observe(nodes: FakeNodePoolProvider, replicas: FakeReplicaSetter, now: float) -> dict[str, Observation]:
    out = {}
    for spec in SPECS:
        pools = drive(nodes.observe(spec.model, [OD, RES], now))
        current = drive(replicas.replicas(spec.model, [OD, RES]))
        signals = Signals(at=now, rps_short=80.0, rps_stable=80.0, queue_depth=0)
        out[spec.model] = assemble(now, spec.model, signals, pools, current)
    return out


def test_two_models_never_take_more_than_the_reservation_holds() -> None:
    clock = ManualClock()
    nodes, replicas = FakeNodePoolProvider(clock), FakeReplicaSetter()
    ports = Ports(nodes, replicas, {"res": RES, "od": OD})
    states: dict = {}
    for _ in range(10):
        plan, states = plan_tick(observe(nodes, replicas, clock.now()), SPECS, [OD, RES], states)
        done = drive(execute(plan, ports))
        assert done.capacity == () and not done.failed  # never past the reservation
        held = {
            m: len(nodes.state[(m, "res")].healthy(clock.now()))
            for m in ("a", "b")
            if (m, "res") in nodes.state
        }
        assert sum(held.values()) <= 1
        clock.advance(15)
    assert {m: replicas.desired.get((m, "res"), 0) for m in ("a", "b")} == {"a": 8, "b": 0}
    assert replicas.desired[("b", "od")] == 8


def test_the_machine_refuses_a_second_model_on_a_full_reservation() -> None:
    clock = ManualClock()
    nodes = FakeNodePoolProvider(clock)
    drive(nodes.set_nodes("a", RES, 1, 8))
    with pytest.raises(ReservationExhausted):
        drive(nodes.set_nodes("b", RES, 1, 8))
