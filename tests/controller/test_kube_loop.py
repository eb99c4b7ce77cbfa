"""The whole loop (real decision core) driving the fake Kubernetes API through the real client."""

from __future__ import annotations

from forescale.controller.actuators import kube_objects as ko
from forescale.controller.actuators.kube_world import KubeWorld, store_policies
from forescale.controller.actuators.kubernetes import KubeNodes, KubeReplicas
from forescale.controller.loop import Controller
from forescale.controller.settings import KubeSettings
from forescale.controller.store import Store
from forescale.sim.fakes import FakeMetricsSource
from tests.controller.conftest import ON_DEMAND, SPEC, SPOT, SteppingClock
from tests.fakekube.server import FakeKube

S = KubeSettings(namespace="fs")


def workers(fake: FakeKube) -> dict[str, int]:
    return {
        d["metadata"]["name"]: d["spec"]["replicas"]
        for d in fake.objects("deployments", "apps")
        if d["metadata"]["labels"]["forescale.io/role"] == "worker"
    }


async def test_loop_scales_deployments_per_pool(store: Store, metrics, registry, kube_api, fake_kube) -> None:
    await store.pools.put(SPOT)
    await store.pools.put(ON_DEMAND)
    await store.policies.put(SPEC.model_copy(update={"on_demand_base": 1}))
    for pool in (SPOT, ON_DEMAND):  # forescale's own worker manifests: ordinary targets
        fake_kube.put("deployments", ko.worker_deployment("m1", pool, S), "apps", ns="fs")
    clock = SteppingClock()
    source = FakeMetricsSource()
    world = KubeWorld(kube_api, S, clock, policies=store_policies(store))
    nodes, reps = KubeNodes(kube_api, S, clock, world), KubeReplicas(kube_api, S, clock, world)
    ctl = Controller(store, source, nodes, reps, clock, metrics=metrics)
    source.set("m1", rps=35.0)
    [d] = await ctl.tick()
    assert d.desired_replicas == 4
    placed = {t.pool: t.replicas for t in d.pools}
    assert sum(placed.values()) == 4 and placed.get("od-a", 0) >= 1  # the on-demand base
    assert workers(fake_kube) == {
        "fs-m1-spot-a": placed.get("spot-a", 0),
        "fs-m1-od-a": placed.get("od-a", 0),
    }
    assert registry.get_sample_value("forescale_controller_desired_replicas", {"model": "m1"}) == 4
    assert registry.get_sample_value("forescale_controller_decision_term_replicas",
                                     {"model": "m1", "term": "reactive"}) == 4  # fmt: skip
    # the world now reports those replicas; the next tick with the same demand changes nothing
    writes = len([r for r in fake_kube.requests if r.method in ("PUT", "POST", "PATCH")])
    clock.advance(15)
    await fake_kube.settle(world.cache.informers.values())
    [again] = await ctl.tick()
    assert again.desired_replicas == 4
    assert workers(fake_kube) == {
        "fs-m1-spot-a": placed.get("spot-a", 0),
        "fs-m1-od-a": placed.get("od-a", 0),
    }
    assert len([r for r in fake_kube.requests if r.method in ("PUT", "POST", "PATCH")]) == writes
    await world.close()
