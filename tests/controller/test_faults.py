"""Fault tests (issue 4), each with explicit pass criteria in its docstring.

All drive the real decision core through the real loop; time is a manual clock.
The controller kill -9 test is in test_fault_kill.py (it needs subprocesses).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from forescale.controller.actuators import kube_objects as ko
from forescale.controller.actuators.kubernetes import KubeNodes, KubeReplicas
from forescale.controller.loop import Controller
from forescale.controller.settings import KubeSettings
from forescale.controller.signals.prometheus import PrometheusSource
from forescale.controller.store import Store
from forescale.core.clock import ManualClock
from forescale.core.model import PolicySpec, ScalingBehavior, ScalingRule
from forescale.devstack.ports import free_port
from forescale.devstack.prometheus_server import PrometheusServer
from forescale.sim.fakes import FakeMetricsSource, FakeNodePoolProvider, FakeReplicaSetter
from tests.controller.conftest import ON_DEMAND, SPOT, SteppingClock
from tests.fakekube.server import FakeKube

FAST_UP = ScalingBehavior(stabilization_window_s=0, rules=(ScalingRule(type="pods", value=100, period_s=15),))


class TrafficExporter:
    """A router-shaped exporter whose request counter grows ~``rps`` per second from a thread."""

    def __init__(self, rps: float) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("forescale_router_requests", "", ["model", "code"], registry=self.registry)
        Gauge("forescale_queue_depth", "", ["model"], registry=self.registry).labels("m1").set(0)
        self.port = free_port()
        self.server, _ = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(rps,), daemon=True)
        self.thread.start()

    def _run(self, rps: float) -> None:
        while not self.stop.wait(0.1):
            self.requests.labels("m1", "200").inc(rps / 10)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def traffic() -> Iterator[TrafficExporter]:
    t = TrafficExporter(rps=400)
    yield t
    t.close()


async def test_prometheus_down_ten_minutes_holds_replicas_and_recovers(
    store: Store, metrics, registry, traffic
) -> None:
    """Pass: (1) while Prometheus is down for 10 simulated minutes (40 ticks of 15 s) every
    decision keeps the replica count it had and the actuator is never asked for another;
    (2) forescale_signal_stale{model} is 1 throughout; (3) once Prometheus is back, a tick
    sees fresh signals again (stale 0, the reactive term computed from a real rate)."""
    await store.pools.put(ON_DEMAND)
    await store.policies.put(PolicySpec(model="m1", target_rps_per_replica=100, min_replicas=1,
                                        max_replicas=20, scale_up=FAST_UP, pools=("od-a",)))  # fmt: skip
    clock = ManualClock()
    nodes, replicas = FakeNodePoolProvider(clock), FakeReplicaSetter()
    with PrometheusServer({"router": [f"127.0.0.1:{traffic.port}"]}, scrape_interval_s=0.2) as prom:
        source = PrometheusSource(prom.url, timeout_s=2, min_range_s=2)
        ctl = Controller(store, source, nodes, replicas, clock, metrics=metrics)

        async def fresh_tick() -> int | None:
            clock.advance(15)
            [d] = await ctl.tick()
            fresh = registry.get_sample_value("forescale_signal_stale", {"model": "m1"}) == 0
            return d.desired_replicas if fresh and d.desired_replicas > 1 else None

        held = await until(fresh_tick)
        calls_before = len(replicas.calls)
        prom.stop()
        for _ in range(40):
            clock.advance(15)
            [d] = await ctl.tick()
            assert (d.desired_replicas == held and d.winner == "hold") or d.desired_replicas == held
            assert registry.get_sample_value("forescale_signal_stale", {"model": "m1"}) == 1
        assert replicas.desired[("m1", "od-a")] == held
        assert all(n == held for _, _, n in replicas.calls[calls_before:])
        prom.start()
        assert await until(fresh_tick)
        reactive = next(
            r for r in (await store.list_decisions("m1", limit=1))[0].reasons if r.term == "reactive"
        )
        assert "missing" not in reactive.detail


async def until(step, timeout_s: float = 30.0):  # waits on real services; not a timing assertion
    deadline = time.monotonic() + timeout_s
    while not (value := await step()):
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.2)
    return value


def spot_first(**update: object) -> PolicySpec:
    base = PolicySpec(
        model="m1", target_rps_per_replica=10, min_replicas=1, max_replicas=20, scale_up=FAST_UP,
        spot_max_fraction=1.0, spot_fallback_timeout_s=120, unavailable_pool_ttl_s=180,
    )  # fmt: skip
    return base.model_copy(update=update)


async def spot_setup(
    store: Store, metrics
) -> tuple[Controller, FakeNodePoolProvider, FakeReplicaSetter, ManualClock]:
    await store.pools.put(SPOT.model_copy(update={"lead_time_s": 60}))
    await store.pools.put(ON_DEMAND.model_copy(update={"lead_time_s": 60}))
    await store.policies.put(spot_first())
    clock = ManualClock()
    source, nodes, replicas = FakeMetricsSource(), FakeNodePoolProvider(clock), FakeReplicaSetter()
    source.set("m1", rps=40.0)
    return Controller(store, source, nodes, replicas, clock, metrics=metrics), nodes, replicas, clock


def nodes_of(nodes: FakeNodePoolProvider, pool: str) -> int:
    st = nodes.state.get(("m1", pool))
    return 0 if st is None else len(st.healthy(nodes.clock.now()))


async def test_spot_never_ready_falls_back_to_on_demand_within_timeout(store: Store, metrics) -> None:
    """Pass: spot is tried first; its nodes never become ready; no later than the fallback
    timeout (120 s) plus one tick after the spot launch, on-demand nodes are asked for that
    cover the whole shortfall (4 replicas), and the replicas end up on on-demand."""
    ctl, nodes, replicas, clock = await spot_setup(store, metrics)
    nodes.never_ready.add("spot-a")
    [first] = await ctl.tick()
    assert {t.pool: t.nodes for t in first.pools}.get("spot-a", 0) == 4
    launched = clock.now()
    covered_at = None
    for _ in range(20):
        clock.advance(15)
        await ctl.tick()
        if covered_at is None and nodes_of(nodes, "od-a") >= 4:
            covered_at = clock.now()
    assert covered_at is not None and covered_at - launched <= 120 + 15
    assert replicas.desired[("m1", "od-a")] >= 4


async def test_spot_insufficient_capacity_falls_back_and_is_retried_after_ttl(store: Store, metrics) -> None:
    """Pass: spot raises InsufficientCapacity; on the next tick on-demand covers all 4
    replicas; spot is not asked to grow again within the 180 s TTL; after the TTL it is
    asked again; once spot has capacity, the replicas move back to spot, and on every tick
    meanwhile at least 4 replicas sit on ready nodes (make before break)."""
    ctl, nodes, replicas, clock = await spot_setup(store, metrics)
    nodes.unavailable.add("spot-a")
    await ctl.tick()
    failed_at = clock.now()
    clock.advance(15)
    await ctl.tick()
    assert nodes_of(nodes, "od-a") >= 4
    spot_asks = []
    for _ in range(16):
        clock.advance(15)
        before = len(nodes.calls)
        await ctl.tick()
        spot_asks += [clock.now() for _, p, n in nodes.calls[before:] if p == "spot-a" and n > 0]
    assert spot_asks and min(spot_asks) - failed_at >= 180
    nodes.unavailable.discard("spot-a")
    served = []
    for _ in range(20):
        clock.advance(15)
        await ctl.tick()
        ready_nodes = sum(  # one GPU per node and per replica: ready nodes = replicas that can serve
            1
            for st in nodes.state.values()
            for n in st.nodes
            if n.healthy(clock.now()) and n.ready_at <= clock.now()
        )
        served.append(min(ready_nodes, sum(c for (_, _), c in replicas.desired.items())))
    assert replicas.desired.get(("m1", "spot-a"), 0) == 4 and replicas.desired[("m1", "od-a")] == 0
    assert min(served) >= 4


async def test_interruption_replacement_starts_before_drain_ends(store: Store, metrics) -> None:
    """Pass: after an interruption notice (drain = 120 s notice), the controller asks for a
    replacement node at the next tick, so it launches well before the drain ends; the
    replacement is ready (lead 60 s) by the time the interrupted node goes away."""
    ctl, nodes, _, clock = await spot_setup(store, metrics)
    for _ in range(6):
        await ctl.tick()
        clock.advance(15)
    assert nodes_of(nodes, "spot-a") == 4
    nodes.interrupt("m1", "spot-a")
    notice_at = clock.now()
    launched_after_notice = []
    for _ in range(9):  # 135 s: the notice runs out at 120 s
        clock.advance(15)
        gone = nodes.drop_drained("m1", "spot-a", notice_s=120)
        await ctl.tick()
        st = nodes.state[("m1", "spot-a")]
        launched_after_notice = [n for n in st.nodes if n.launched_at > notice_at]
        if gone:
            assert launched_after_notice and all(n.ready_at <= clock.now() for n in launched_after_notice)
    assert launched_after_notice and min(n.launched_at for n in launched_after_notice) - notice_at <= 15
    assert min(n.launched_at for n in launched_after_notice) < notice_at + 120


KS = KubeSettings(namespace="fs", retry_attempts=6, retry_base_s=0.5, retry_max_s=10)


async def test_api_bursts_of_429_500_409_lose_no_update_and_never_spin(
    store: Store, metrics, kube_api, fake_kube: FakeKube
) -> None:
    """Pass: over 12 ticks with changing demand and bursts of 429 (Retry-After 2), 500 and
    409 (injected and from a real racing writer): (1) after each tick that completed, the
    worker Deployment's replicas equal the decision, and after the last tick every pool
    matches the last decision (no lost update); (2) the racing writer's annotation
    survives (its update is not lost either); (3) every 429 is followed by a 2 s wait,
    every 500 by a backoff >= 0.5 s, and no operation exceeds retry_attempts requests."""
    await store.pools.put(ON_DEMAND)
    await store.policies.put(spot_first(pools=("od-a",)))
    fake_kube.put("deployments", ko.worker_deployment("m1", ON_DEMAND, KS), "apps", ns="fs")  # its manifests
    clock = SteppingClock()
    source = FakeMetricsSource()
    ctl = Controller(store, source, KubeNodes(kube_api, KS, clock), KubeReplicas(kube_api, KS, clock), clock,
                     metrics=metrics)  # fmt: skip
    rng = random.Random(7)

    def racer() -> None:
        for dep in fake_kube.objects("deployments", "apps"):
            dep["metadata"].setdefault("annotations", {})["touched"] = "yes"
            fake_kube.put("deployments", dep, "apps", ns="fs")

    decisions = []
    for rps in (30, 60, 90, 120, 80, 80, 150, 150, 40, 40, 200, 200):
        source.set("m1", rps=float(rps))
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice(("429", "500", "409", "race"))
            if kind == "429":
                fake_kube.inject(status=429, retry_after=2, path="od-a/scale", times=rng.randint(1, 3))
            elif kind == "500":
                fake_kube.inject(status=500, times=rng.randint(1, 3))
            elif kind == "409":
                fake_kube.inject(status=409, method="PUT", times=rng.randint(1, 2))
            else:
                fake_kube.inject(method="PUT", path="od-a/scale", action=racer)
        clock.slept.clear()
        start = len(fake_kube.requests)
        [d] = await ctl.tick() or [None]
        decisions.append(d)
        seen = fake_kube.requests[start:]
        failures = [r.status for r in seen if r.status in (429, 500)]
        waits = list(clock.slept)
        assert waits.count(2) >= failures.count(429)
        # an operation that gave up (d is None) does not wait after its last failure
        assert len([w for w in waits if w >= 0.5]) >= len(failures) - (d is None)
        if d is not None:  # None: the tick gave up (ActuatorError); the next one catches up
            dep = {x["metadata"]["name"]: x for x in fake_kube.objects("deployments", "apps")}
            target = {t.pool: t.replicas for t in d.pools}
            assert dep["fs-m1-od-a"]["spec"]["replicas"] == target["od-a"]
        clock.advance(15)
    fake_kube.faults.clear()
    [last] = await ctl.tick()
    dep = {x["metadata"]["name"]: x for x in fake_kube.objects("deployments", "apps")}
    assert dep["fs-m1-od-a"]["spec"]["replicas"] == {t.pool: t.replicas for t in last.pools}["od-a"]
    assert dep["fs-m1-od-a"]["metadata"].get("annotations", {}).get("touched") == "yes"
    assert sum(d is not None for d in decisions) >= 10
    await ctl.nodes.close()  # type: ignore[attr-defined]
    await ctl.replicas.close()


async def clock_setup(
    store: Store, metrics
) -> tuple[Controller, FakeMetricsSource, FakeReplicaSetter, ManualClock]:
    await store.pools.put(ON_DEMAND.model_copy(update={"max_nodes": 40}))
    await store.policies.put(PolicySpec(model="m1", target_rps_per_replica=10, min_replicas=1,
                                        max_replicas=40, scale_up=FAST_UP, pools=("od-a",)))  # fmt: skip
    clock = ManualClock()
    source, replicas = FakeMetricsSource(), FakeReplicaSetter()
    ctl = Controller(store, source, FakeNodePoolProvider(clock), replicas, clock, metrics=metrics)
    source.set("m1", rps=200.0)
    for _ in range(3):
        await ctl.tick()
        clock.advance(15)
    assert replicas.desired[("m1", "od-a")] == 20
    source.set("m1", rps=20.0)  # demand falls to 2 replicas' worth
    return ctl, source, replicas, clock


async def ticks_until_two(ctl: Controller, replicas: FakeReplicaSetter, clock: ManualClock) -> float:
    """Seconds of ticks (15 s each) until the count reaches 2."""
    waited = 0.0
    while replicas.desired[("m1", "od-a")] != 2:
        clock.advance(15)
        waited += 15
        await ctl.tick()
        assert waited <= 3600, "scale-down frozen"
    return waited


@pytest.mark.parametrize(("step", "kind"), [(-86400.0, "backward"), (86400.0, "forward")])
async def test_clock_step_holds_flags_and_recovers(
    store: Store, metrics, registry, step: float, kind: str
) -> None:
    """Pass: (1) on the tick after the wall clock steps a day back or forward, the count is
    held at 20 (no drop to 2 at once), the decision carries a `clock` reason, and
    forescale_controller_errors_total{kind="clock-<direction>"} is 1; (2) after that the
    scale-down runs as if the clock had never moved: 2 replicas within the 300 s scale-down
    window plus two ticks (not a day later)."""
    ctl, _, replicas, clock = await clock_setup(store, metrics)
    clock.advance(step)
    [d] = await ctl.tick()
    assert d.desired_replicas == 20  # held: the window (re-stamped) or the clock hold keeps it
    assert any(r.term == "clock" and kind in r.detail for r in d.reasons)
    [stored] = await ctl.store.list_decisions("m1", limit=1)
    assert any(r.term == "clock" for r in stored.reasons)
    assert registry.get_sample_value("forescale_controller_errors_total", {"kind": f"clock-{kind}"}) == 1
    assert await ticks_until_two(ctl, replicas, clock) <= 300 + 30
    assert registry.get_sample_value("forescale_controller_errors_total", {"kind": f"clock-{kind}"}) == 1
