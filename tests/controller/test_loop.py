"""The reconcile loop with fakes and a manual clock: order, persistence, dry-run, errors."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from forescale.controller.errors import ActuatorError
from forescale.controller.leader import LeaderElector, RedisLease
from forescale.controller.loop import Controller
from forescale.controller.metrics import ControllerMetrics
from forescale.controller.store import Store
from forescale.core.clock import ManualClock
from forescale.core.errors import InsufficientCapacity
from forescale.core.model import PolicyState
from forescale.sim.fakes import FakeMetricsSource, FakeNodePoolProvider, FakeReplicaSetter
from tests.controller.conftest import ON_DEMAND, SPEC, SPOT, simple_decide


def make(store: Store, metrics: ControllerMetrics, clock: ManualClock | None = None):
    clock = clock or ManualClock()
    source, nodes, replicas = FakeMetricsSource(), FakeNodePoolProvider(clock), FakeReplicaSetter()
    ctl = Controller(store, source, nodes, replicas, clock, metrics=metrics, decide=simple_decide)
    return ctl, source, nodes, replicas, clock


async def seed(store: Store, **spec_update: object) -> None:
    await store.pools.put(SPOT)
    await store.pools.put(ON_DEMAND)
    await store.policies.put(SPEC.model_copy(update=spec_update))


async def test_tick_observes_decides_actuates_and_persists(store: Store, metrics, registry) -> None:
    await seed(store, pools=("spot-a",))
    ctl, source, nodes, replicas, clock = make(store, metrics)
    source.set("m1", rps=35.0)
    [d] = await ctl.tick()
    assert d.desired_replicas == 4 and d.at == clock.now()
    assert replicas.calls == [("m1", "spot-a", 4)]
    assert nodes.calls == [("m1", "spot-a", 4)]
    assert await store.load_state("m1") == PolicyState(last_at=clock.now(), last_desired=4)
    assert [x.desired_replicas for x in await store.list_decisions("m1")] == [4]
    assert registry.get_sample_value("forescale_controller_desired_replicas", {"model": "m1"}) == 4
    assert registry.get_sample_value("forescale_controller_errors_total", {"kind": "tick"}) is None


async def test_scale_down_sets_replicas_before_nodes(store: Store, metrics) -> None:
    await seed(store, pools=("spot-a",))
    ctl, source, nodes, replicas, _ = make(store, metrics)
    source.set("m1", rps=50.0)
    await ctl.tick()
    order: list[str] = []
    nodes_set, replicas_set = nodes.set_nodes, replicas.set_replicas

    async def rec_nodes(*a):  # record call order across the two fakes
        order.append("nodes")
        await nodes_set(*a)

    async def rec_replicas(*a):
        order.append("replicas")
        await replicas_set(*a)

    nodes.set_nodes, replicas.set_replicas = rec_nodes, rec_replicas  # type: ignore[method-assign]
    source.set("m1", rps=10.0)
    await ctl.tick()
    assert order == ["replicas", "nodes"]
    source.set("m1", rps=70.0)
    order.clear()
    await ctl.tick()
    assert order == ["nodes", "replicas"]


async def test_dry_run_records_but_never_actuates(store: Store, metrics) -> None:
    await seed(store, mode="dry-run")
    ctl, source, nodes, replicas, _ = make(store, metrics)
    source.set("m1", rps=80.0)
    [d] = await ctl.tick()
    assert d.dry_run and d.desired_replicas == 8
    assert replicas.calls == [] and nodes.calls == []
    [stored] = await store.list_decisions("m1")
    assert stored.dry_run


async def test_pool_left_out_of_decision_is_scaled_to_zero(store: Store, metrics) -> None:
    await seed(store)
    ctl, source, _, replicas, _ = make(store, metrics)
    replicas.desired[("m1", "spot-a")] = 3  # left over from an earlier plan
    source.set("m1", rps=20.0)
    await ctl.tick()  # the stand-in policy places everything in the first pool, od-a
    assert ("m1", "spot-a", 0) in replicas.calls and ("m1", "od-a", 2) in replicas.calls


async def test_one_policy_failing_does_not_stop_the_others(store: Store, metrics, registry) -> None:
    await seed(store, pools=("spot-a",))
    await store.policies.put(SPEC.model_copy(update={"model": "m2", "pools": ("spot-a",)}))
    ctl, source, _, replicas, _ = make(store, metrics)
    source.set("m1", rps=20.0)
    source.set("m2", rps=20.0)
    replicas.next_error = ActuatorError("kube-500", "boom")
    decisions = await ctl.tick()
    assert [d.model for d in decisions] == ["m2"]
    assert registry.get_sample_value("forescale_controller_errors_total", {"kind": "kube-500"}) == 1
    assert replicas.desired[("m2", "spot-a")] == 2


async def test_a_non_finite_signal_skips_only_that_model(store: Store, metrics, registry) -> None:
    """A NaN from a source is that model's error in /v1/status, not a failed tick for all."""
    await seed(store, pools=("spot-a",))
    await store.policies.put(SPEC.model_copy(update={"model": "m2", "pools": ("spot-a",)}))
    ctl, source, _, replicas, _ = make(store, metrics)
    source.set("m1", rps=float("nan"))
    source.set("m2", rps=20.0)
    decisions = await ctl.tick()
    assert [d.model for d in decisions] == ["m2"]
    assert registry.get_sample_value("forescale_controller_errors_total", {"kind": "bad-observation"}) == 1
    assert replicas.desired[("m2", "spot-a")] == 2 and ("m1", "spot-a") not in replicas.desired
    (err,) = (await store.model_errors()).values()
    assert err.kind == "bad-observation" and "m1" in err.detail and "nan" in err.detail


async def test_insufficient_capacity_is_counted_and_observed_next_tick(
    store: Store, metrics, registry
) -> None:
    await seed(store, pools=("spot-a",))
    ctl, source, nodes, _, clock = make(store, metrics)
    nodes.unavailable.add("spot-a")
    source.set("m1", rps=20.0)
    await ctl.tick()
    assert (
        registry.get_sample_value("forescale_controller_errors_total", {"kind": "InsufficientCapacity"}) == 1
    )
    obs, _ = await ctl.observe(SPEC, [SPOT])
    assert obs.pools[0].insufficient_capacity_at == clock.now()
    assert isinstance(InsufficientCapacity("x"), Exception)


async def test_stale_signals_flagged_and_replicas_held(store: Store, metrics, registry) -> None:
    await seed(store, pools=("spot-a",))
    ctl, source, _, replicas, clock = make(store, metrics)
    source.set("m1", rps=60.0)
    await ctl.tick()
    source.set("m1", rps=None)
    for _ in range(5):
        clock.advance(15)
        await ctl.tick()
    assert replicas.desired[("m1", "spot-a")] == 6
    assert registry.get_sample_value("forescale_signal_stale", {"model": "m1"}) == 1


async def test_run_ticks_on_the_clock_and_survives_errors(store: Store, metrics, registry) -> None:
    await seed(store, pools=("spot-a",))
    ctl, source, _, replicas, clock = make(store, metrics)
    source.set("m1", rps=20.0)
    source.next_error = RuntimeError("source exploded")  # not an ActuatorError: outermost catch
    stop = asyncio.Event()
    task = asyncio.create_task(ctl.run(stop))
    for _ in range(3):
        while clock.sleepers == 0:
            await asyncio.sleep(0)
        clock.advance(15)
    while clock.sleepers == 0:
        await asyncio.sleep(0)
    stop.set()
    clock.advance(15)
    await task
    assert registry.get_sample_value("forescale_controller_errors_total", {"kind": "tick"}) == 1
    assert len(await store.list_decisions("m1")) == 3  # 4 ticks, the first failed
    assert replicas.desired[("m1", "spot-a")] == 2


async def test_only_the_leader_acts_and_takeover_within_one_lease(store: Store, aredis) -> None:
    await seed(store, pools=("spot-a",))
    clock = ManualClock()
    lease = RedisLease(aredis, duration_s=30)
    a = LeaderElector(lease, clock, "a")
    b = LeaderElector(lease, clock, "b")
    ctl_a, src_a, _, _, _ = make(store, ControllerMetrics(CollectorRegistry()), clock)
    ctl_b, src_b, _, rep_b, _ = make(store, ControllerMetrics(CollectorRegistry()), clock)
    ctl_a.elector, ctl_b.elector = a, b
    src_a.set("m1", rps=20.0)
    src_b.set("m1", rps=20.0)
    assert await a.step() and not await b.step()
    assert len(await ctl_a.tick()) == 1 and await ctl_b.tick() == []
    assert rep_b.calls == []
    clock.advance(10)  # a renews in time, b still locked out
    assert await a.step() and not await b.step()
    # a dies (stops renewing); b takes over within one lease period of a's last renewal
    renewed_at = clock.now()
    while not await b.step():
        clock.advance(5)
    assert clock.now() - renewed_at <= 30
    assert not a.leading()  # a's renew deadline passed long before b could take over
    assert len(await ctl_b.tick()) == 1


async def test_unknown_policy_name_skips_only_that_policy(store: Store, metrics, registry) -> None:
    from forescale.controller.loop import core_decide

    await seed(store, pools=("spot-a",))
    await store.policies.put(SPEC.model_copy(update={"model": "m2", "policy": "nope", "pools": ("spot-a",)}))
    ctl, source, _, _, _ = make(store, metrics)
    ctl.decide = core_decide
    source.set("m1", rps=20.0)
    source.set("m2", rps=20.0)
    assert [d.model for d in await ctl.tick()] == ["m1"]
    assert registry.get_sample_value("forescale_controller_errors_total", {"kind": "unknown-policy"}) == 1


async def test_two_models_share_a_reservation_against_the_fake_api_server(
    store: Store, metrics, kube_api, fake_kube
) -> None:
    """One 8-GPU reserved node, two models wanting 8 one-GPU replicas each: the controller's
    tick (real core, real client, fake API server) never plans or scales more onto the
    reservation than it holds; the other model goes to on-demand."""
    from forescale.controller.actuators import kube_objects as ko
    from forescale.controller.actuators.kubernetes import KubeNodes, KubeReplicas
    from forescale.controller.settings import KubeSettings
    from forescale.core.model import PoolSpec
    from tests.controller.conftest import SteppingClock

    res = PoolSpec(name="res", capacity_type="reserved", price_per_node_hour=2.0, gpus_per_node=8,
                   max_nodes=1, reservation_nodes=1)  # fmt: skip
    od = PoolSpec(name="od", capacity_type="on-demand", price_per_node_hour=4.0, gpus_per_node=8, max_nodes=4)
    await store.pools.put(res)
    await store.pools.put(od)
    for model in ("a", "b"):
        spec = SPEC.model_copy(update={"model": model, "min_replicas": 8, "max_replicas": 8})
        await store.policies.put(spec)
    clock, ks = SteppingClock(), KubeSettings(namespace="fs")
    for model in ("a", "b"):  # forescale's own worker manifests: ordinary targets
        for p in (res, od):
            fake_kube.put("deployments", ko.worker_deployment(model, p, ks), "apps", ns="fs")
    source = FakeMetricsSource()
    ctl = Controller(store, source, KubeNodes(kube_api, ks, clock), KubeReplicas(kube_api, ks, clock), clock,
                     metrics=metrics)  # fmt: skip
    for model in ("a", "b"):
        source.set(model, rps=80.0)
    for _ in range(2):
        decisions = await ctl.tick()
        on_res = [t for d in decisions for t in d.pools if t.pool == "res"]
        assert sum(t.nodes for t in on_res) <= 1 and sum(t.replicas for t in on_res) <= 8
        scaled = {
            d["metadata"]["name"]: d["spec"]["replicas"] for d in fake_kube.objects("deployments", "apps")
        }
        assert sum(n for name, n in scaled.items() if name.endswith("-res")) <= 8
        assert scaled.get("fs-a-res") == 8 and scaled.get("fs-b-od") == 8
        clock.advance(15)


async def test_models_are_observed_concurrently_within_the_bound(store: Store, metrics) -> None:
    """Six models, a bound of 2: reads overlap (concurrent), never more than 2 at once."""
    await store.pools.put(SPOT)
    for i in range(6):
        await store.policies.put(SPEC.model_copy(update={"model": f"m{i}", "pools": ("spot-a",)}))
    clock = ManualClock()

    class Gate(FakeMetricsSource):
        def __init__(self) -> None:
            super().__init__()
            self.now, self.most = 0, 0

        async def read(self, spec, now):  # type: ignore[no-untyped-def]
            self.now += 1
            self.most = max(self.most, self.now)
            for _ in range(3):  # let the others run
                await asyncio.sleep(0)
            self.now -= 1
            return await super().read(spec, now)

    source = Gate()
    for i in range(6):
        source.set(f"m{i}", rps=20.0)
    ctl = Controller(store, source, FakeNodePoolProvider(clock), FakeReplicaSetter(), clock, metrics=metrics,
                     decide=simple_decide, concurrency=2)  # fmt: skip
    assert len(await ctl.tick()) == 6
    assert source.most == 2
