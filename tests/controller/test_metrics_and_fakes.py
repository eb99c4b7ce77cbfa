"""Controller metrics (names, values, promtool-clean) and the port fakes' own behaviour."""

from __future__ import annotations

import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from forescale.controller.loop import Controller
from forescale.controller.metrics import ControllerMetrics
from forescale.controller.store import Store
from forescale.core.clock import ManualClock
from forescale.core.errors import InsufficientCapacity
from forescale.sim.fakes import FakeMetricsSource, FakeNodePoolProvider, FakeReplicaSetter
from tests.controller.conftest import SPEC, SPOT


async def test_metrics_after_ticks_and_promtool_clean(store: Store) -> None:
    registry = CollectorRegistry()
    await store.pools.put(SPOT)
    await store.policies.put(SPEC.model_copy(update={"pools": ("spot-a",), "spot_max_fraction": 1.0}))
    clock = ManualClock()
    source, nodes, replicas = FakeMetricsSource(), FakeNodePoolProvider(clock), FakeReplicaSetter()
    source.set("m1", rps=30.0)
    ctl = Controller(store, source, nodes, replicas, clock, metrics=ControllerMetrics(registry))
    for _ in range(10):  # 150 s: the spot nodes (lead 120 s) become ready
        await ctl.tick()
        clock.advance(15)
    get = registry.get_sample_value
    assert get("forescale_controller_desired_replicas", {"model": "m1"}) == 3
    assert get("forescale_controller_current_replicas", {"model": "m1"}) == 3
    assert get("forescale_controller_decision_term_replicas", {"model": "m1", "term": "reactive"}) == 3
    assert get("forescale_controller_decision_term_replicas", {"model": "m1", "term": "floor"}) == 1
    ready_spot = {"model": "m1", "pool": "spot-a", "state": "ready", "capacity_type": "spot"}
    assert get("forescale_controller_pool_nodes", ready_spot) == 3
    assert get("forescale_controller_lead_time_seconds_count", {"pool": "spot-a"}) == 3
    assert get("forescale_controller_lead_time_seconds_sum", {"pool": "spot-a"}) == 360
    assert get("forescale_controller_tick_duration_seconds_count") == 10
    assert get("forescale_signal_stale", {"model": "m1"}) == 0
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=generate_latest(registry), capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_fake_node_pool_provider_lifecycle() -> None:
    clock = ManualClock()
    fake = FakeNodePoolProvider(clock, lead_time_s={"spot-a": 60})
    await fake.set_nodes("m", SPOT, 3, 3)
    [obs] = await fake.observe("m", [SPOT], clock.now())
    assert (obs.ready_nodes, obs.starting_nodes) == (0, 3)
    clock.advance(60)
    [obs] = await fake.observe("m", [SPOT], clock.now())
    assert obs.ready_nodes == 3 and obs.lead_times_s == (60.0, 60.0, 60.0)
    fake.interrupt("m", "spot-a")
    [obs] = await fake.observe("m", [SPOT], clock.now())
    assert (obs.ready_nodes, obs.draining_nodes, obs.interruptions, obs.lead_times_s) == (2, 1, 1, ())
    await fake.set_nodes("m", SPOT, 3, 3)  # replaces the draining node
    await fake.set_nodes("m", SPOT, 1, 1)  # scale down: newest first, draining node untouched
    [obs] = await fake.observe("m", [SPOT], clock.now())
    assert (obs.ready_nodes, obs.starting_nodes, obs.draining_nodes) == (1, 0, 1)
    clock.advance(120)
    assert fake.drop_drained("m", "spot-a", notice_s=120) == 1
    fake.unavailable.add("spot-a")
    with pytest.raises(InsufficientCapacity):
        await fake.set_nodes("m", SPOT, 2, 2)
    [obs] = await fake.observe("m", [SPOT], clock.now())
    assert obs.insufficient_capacity_at == clock.now()
    fake.next_error = RuntimeError("one shot")
    with pytest.raises(RuntimeError):
        await fake.set_nodes("m", SPOT, 1, 1)
    await fake.set_nodes("m", SPOT, 1, 1)  # cleared after one use
    assert fake.calls[-1] == ("m", "spot-a", 1)


async def test_fake_replica_setter_and_source() -> None:
    reps = FakeReplicaSetter()
    await reps.set_replicas("m", SPOT, 4)
    reps.ready_override[("m", "spot-a")] = 1
    got = await reps.replicas("m", [SPOT])
    assert (got.desired, got.ready, got.starting) == (4, 1, 3)
    src = FakeMetricsSource()
    missing = await src.read(SPEC, 5.0)
    assert missing.rps_stable is None and "rps_stable" in missing.stale
    src.set("m1", rps=7.0, queue_depth=3)
    sig = await src.read(SPEC, 5.0)
    assert (sig.rps_short, sig.rps_stable, sig.queue_depth, sig.stale) == (7.0, 7.0, 3, ())
