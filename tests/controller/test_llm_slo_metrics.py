"""The policy's TTFT/TPOT objectives on the controller's /metrics, where the LLM alerts
(deploy/prometheus/rules/forescale-alerts.yaml) compare the workers' p99 with them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from forescale.controller.loop import Controller
from forescale.controller.metrics import ControllerMetrics
from forescale.controller.store import Store
from forescale.core.clock import ManualClock
from forescale.sim.fakes import FakeMetricsSource, FakeNodePoolProvider, FakeReplicaSetter
from tests.controller.conftest import SPEC, SPOT


async def test_objectives_exported_and_withdrawn(store: Store) -> None:
    registry = CollectorRegistry()
    await store.pools.put(SPOT)
    spec = SPEC.model_copy(update={"pools": ("spot-a",), "ttft_slo_s": 0.8})
    await store.policies.put(spec)
    clock = ManualClock()
    source = FakeMetricsSource()
    source.set("m1", rps=5.0)
    ctl = Controller(store, source, FakeNodePoolProvider(clock), FakeReplicaSetter(), clock,
                     metrics=ControllerMetrics(registry))  # fmt: skip
    await ctl.tick()
    get = registry.get_sample_value
    assert get("forescale_controller_ttft_slo_seconds", {"model": "m1"}) == 0.8
    assert get("forescale_controller_tpot_slo_seconds", {"model": "m1"}) is None  # none: no alert
    await store.policies.put(spec.model_copy(update={"ttft_slo_s": None, "tpot_slo_s": 0.05}))
    clock.advance(15)
    await ctl.tick()
    assert get("forescale_controller_ttft_slo_seconds", {"model": "m1"}) is None
    assert get("forescale_controller_tpot_slo_seconds", {"model": "m1"}) == 0.05
