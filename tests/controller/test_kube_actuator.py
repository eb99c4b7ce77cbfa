"""The Kubernetes actuator through the REAL kubernetes_asyncio client against the fake API server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client

from forescale.controller.actuators import kube_objects as ko
from forescale.controller.actuators.kube_lease import KubeLease, micro_time
from forescale.controller.actuators.kube_world import KubeWorld
from forescale.controller.actuators.kubernetes import KubeNodes, KubeReplicas
from forescale.controller.errors import ActuatorError
from forescale.controller.settings import KubeSettings
from forescale.core.clock import ManualClock
from tests.controller.conftest import ON_DEMAND, SPOT, SteppingClock
from tests.fakekube.server import FakeKube

S = KubeSettings(namespace="fs", retry_attempts=4, retry_base_s=0.5, retry_max_s=10)
GPU_POOL = SPOT.model_copy(update={"gpus_per_node": 4})


@pytest.fixture
async def world(kube_api) -> AsyncIterator[KubeWorld]:
    w = KubeWorld(kube_api, S, SteppingClock())
    yield w
    await w.close()


def scale_puts(fake: FakeKube) -> list[int]:
    return [r.status for r in fake.requests if r.method == "PUT" and r.path.endswith("/scale")]


def worker(fake: FakeKube, pool=SPOT, replicas: int = 0) -> dict:
    """forescale's own worker Deployment, as its manifests create it (the controller does not)."""
    dep = ko.worker_deployment("m1", pool, S)
    dep["spec"]["replicas"] = replicas
    return fake.put("deployments", dep, "apps", ns="fs")


async def test_set_replicas_scales_an_existing_target_and_never_creates(kube_api, fake_kube, world) -> None:
    clock = world.clock
    reps = KubeReplicas(kube_api, S, clock, world)
    worker(fake_kube)
    await reps.set_replicas("m1", SPOT, 2)
    assert scale_puts(fake_kube) == [200]
    fake_kube.ready_limit["fs-m1-spot-a"] = 3
    await reps.set_replicas("m1", SPOT, 5)
    assert scale_puts(fake_kube) == [200, 200]
    await fake_kube.settle(world.cache.informers.values())
    got = await reps.replicas("m1", [SPOT, ON_DEMAND])
    assert got.by_pool["spot-a"].desired == 5 and got.by_pool["spot-a"].ready == 3
    assert got.by_pool["spot-a"].starting == 2 and got.by_pool["od-a"].desired == 0
    assert world.problems["m1"] == [
        "scale target Deployment fs/fs-m1-od-a not found: forescale never creates workloads; create it, "
        "or name an existing object with a /scale subresource in the policy's `targets`"
    ]
    await reps.set_replicas("m1", SPOT, 5)  # already there: no write
    assert scale_puts(fake_kube) == [200, 200]
    with pytest.raises(ActuatorError) as exc:
        await reps.set_replicas("m1", ON_DEMAND, 1)  # missing: an error, not a new Deployment
    assert exc.value.kind == "target-missing"
    assert [r for r in fake_kube.requests if r.method == "POST"] == []
    assert [d["metadata"]["name"] for d in fake_kube.objects("deployments", "apps")] == ["fs-m1-spot-a"]
    assert clock.slept == []


async def test_racing_writer_409_rereads_and_wins_without_losing_the_other_write(
    kube_api, fake_kube, world
) -> None:
    clock = world.clock
    reps = KubeReplicas(kube_api, S, clock, world)
    dep = worker(fake_kube, replicas=1)

    def racer() -> None:  # someone labels the Deployment between our read and our write
        dep["metadata"].setdefault("annotations", {})["owner"] = "human"
        fake_kube.put("deployments", dep, "apps", ns="fs")

    fake_kube.inject(method="PUT", path="spot-a/scale", action=racer)
    await reps.set_replicas("m1", SPOT, 4)
    assert scale_puts(fake_kube) == [409, 200]
    assert clock.slept == [0.0]  # first conflict: re-read at once
    [after] = fake_kube.objects("deployments", "apps")
    assert after["spec"]["replicas"] == 4 and after["metadata"]["annotations"] == {"owner": "human"}


async def test_429_honours_retry_after_and_500_backs_off(kube_api, fake_kube: FakeKube, world) -> None:
    clock = world.clock
    reps = KubeReplicas(kube_api, S, clock, world)
    worker(fake_kube, replicas=1)
    fake_kube.inject(status=429, retry_after=3, path="spot-a/scale", method="PUT")
    fake_kube.inject(status=500, path="spot-a/scale", method="GET", times=2)
    await reps.set_replicas("m1", SPOT, 3)
    assert clock.slept == [0.5, 1.0, 3]  # two 500 backoffs, then the Retry-After of the 429
    assert fake_kube.objects("deployments", "apps")[0]["spec"]["replicas"] == 3


async def test_retries_wait_on_the_injected_clock_only(kube_api, fake_kube: FakeKube) -> None:
    """A 503, then a 429 with Retry-After, then success: between tries the call is parked
    on the controller's clock (no real sleeping) and goes on exactly when it has advanced."""
    clock = ManualClock()
    world = KubeWorld(kube_api, S, clock)
    try:
        reps = KubeReplicas(kube_api, S, clock, world)
        worker(fake_kube, replicas=1)
        fake_kube.inject(status=503, path="spot-a/scale", method="PUT")
        fake_kube.inject(status=429, retry_after=2, path="spot-a/scale", method="PUT")
        call = asyncio.create_task(reps.set_replicas("m1", SPOT, 3))

        async def parked_after(puts: list[int]) -> None:
            for _ in range(1000):
                if clock.sleepers == 1 and scale_puts(fake_kube) == puts:
                    break
                await asyncio.sleep(0.005)
            for _ in range(20):  # the clock stands still: so does the call
                await asyncio.sleep(0.005)
            assert clock.sleepers == 1 and scale_puts(fake_kube) == puts and not call.done()

        await parked_after([503])
        clock.advance(0.4)  # the first backoff is 0.5 s
        await parked_after([503])
        clock.advance(0.1)
        await parked_after([503, 429])
        clock.advance(2.0)  # the Retry-After
        await asyncio.wait_for(call, 10)
        assert scale_puts(fake_kube) == [503, 429, 200]
        assert fake_kube.objects("deployments", "apps")[0]["spec"]["replicas"] == 3
    finally:
        await world.close()


async def test_persistent_errors_give_up_after_bounded_attempts(kube_api, fake_kube: FakeKube, world) -> None:
    clock = world.clock
    reps = KubeReplicas(kube_api, S, clock, world)
    worker(fake_kube, replicas=1)
    fake_kube.inject(status=500, path="spot-a/scale", times=100)
    with pytest.raises(ActuatorError) as exc:
        await reps.set_replicas("m1", SPOT, 3)
    assert exc.value.kind == "kube-500"
    assert len([r for r in fake_kube.requests if r.path.endswith("/scale")]) == S.retry_attempts
    assert clock.slept == [0.5, 1.0, 2.0]


async def test_forbidden_is_not_retried(kube_api, fake_kube: FakeKube, world) -> None:
    clock = world.clock
    fake_kube.inject(status=403, times=10)
    with pytest.raises(ActuatorError) as exc:
        await KubeReplicas(kube_api, S, clock, world).set_replicas("m1", SPOT, 1)
    assert exc.value.kind == "kube-403" and clock.slept == [] and len(fake_kube.requests) == 1


async def test_placeholders_fill_nodes_not_used_by_workers(kube_api, fake_kube: FakeKube, world) -> None:
    clock = world.clock
    nodes, reps = KubeNodes(kube_api, S, clock, world), KubeReplicas(kube_api, S, clock, world)
    worker(fake_kube, GPU_POOL)
    await reps.set_replicas("m1", GPU_POOL, 5)  # 1 GPU each, 4 per node: 2 nodes in use
    await nodes.set_nodes("m1", GPU_POOL, 5, 5)
    deps = {d["metadata"]["name"]: d for d in fake_kube.objects("deployments", "apps")}
    ph = deps["fs-placeholder-m1-spot-a"]
    pod = ph["spec"]["template"]["spec"]
    assert ph["spec"]["replicas"] == 3
    assert pod["priorityClassName"] == "forescale-placeholder"
    assert pod["containers"][0]["resources"]["requests"] == {"nvidia.com/gpu": "4"}
    [pc] = fake_kube.objects("priorityclasses", "scheduling.k8s.io")
    assert pc["value"] < 0 and pc["preemptionPolicy"] == "Never"
    await fake_kube.settle(world.cache.informers.values())
    await nodes.set_nodes("m1", GPU_POOL, 2, 5)
    assert fake_kube.objects("deployments", "apps")[1]["spec"]["replicas"] == 0


def node(name: str, pool: str, *, ready: bool, created: float, ready_at: float | None = None,
         taints: tuple[str, ...] = ()) -> dict:  # fmt: skip
    cond = {"type": "Ready", "status": "True" if ready else "False"}
    if ready_at is not None:
        cond["lastTransitionTime"] = micro_time(ready_at)
    return {
        "metadata": {
            "name": name,
            "labels": {"forescale.io/pool": pool},
            "creationTimestamp": micro_time(created),
        },
        "spec": {"taints": [{"key": k, "effect": "NoSchedule"} for k in taints]},
        "status": {"conditions": [cond]},
    }


def pod(name: str, pool: str, role: str, node_name: str | None) -> dict:
    labels = {ko.MODEL_LABEL: "m1", "forescale.io/pool": pool, ko.ROLE_LABEL: role}
    spec: dict = {"containers": [{"name": "c", "image": "i"}]}
    if node_name:
        spec["nodeName"] = node_name
    return {"metadata": {"name": name, "labels": labels, "namespace": "fs"}, "spec": spec,
            "status": {"phase": "Running" if node_name else "Pending"}}  # fmt: skip


async def test_observe_nodes_lead_times_interruptions_and_launch_failures(kube_api, fake_kube, world) -> None:
    clock = world.clock
    t0 = clock.now()
    nodes = KubeNodes(kube_api, S, clock, world)
    worker(fake_kube)
    assert (await nodes.observe("m1", [SPOT], t0))[0].ready_nodes == 0  # first look: baseline
    fake_kube.put("nodes", node("n1", "spot-a", ready=True, created=t0 - 100, ready_at=t0 + 5))
    fake_kube.put("nodes", node("n2", "spot-a", ready=False, created=t0))
    fake_kube.put("nodes", node("n3", "spot-a", ready=True, created=t0 - 900, ready_at=t0 - 800,
                                taints=("aws-node-termination-handler/spot-itn",)))  # fmt: skip
    fake_kube.put("nodes", node("other", "spot-a", ready=True, created=t0, ready_at=t0 + 1))  # not m1's
    for p in (pod("w1", "spot-a", "worker", "n1"), pod("w2", "spot-a", "worker", "n2"),
              pod("w3", "spot-a", "worker", "n3"), pod("ph1", "spot-a", "placeholder", None)):  # fmt: skip
        fake_kube.put("pods", p)
    await fake_kube.settle(world.cache.informers.values())
    [obs] = await nodes.observe("m1", [SPOT], t0 + 15)
    assert (obs.ready_nodes, obs.starting_nodes, obs.draining_nodes) == (1, 2, 1)
    assert obs.lead_times_s == (105.0,) and obs.interruptions == 1
    assert obs.insufficient_capacity_at is None
    fake_kube.put("nodeclaims", {"metadata": {"name": "nc", "labels": {"karpenter.sh/nodepool": "spot-a"}},
                                 "status": {"conditions": [{"type": "Launched", "status": "False",
                                                            "reason": "InsufficientCapacity"}]}},
                  group="karpenter.sh", version="v1")  # fmt: skip
    await fake_kube.settle(world.cache.informers.values())
    [again] = await nodes.observe("m1", [SPOT], t0 + 30)
    assert again.lead_times_s == () and again.interruptions == 0  # each reported once
    assert again.insufficient_capacity_at == t0 + 30


async def test_lease_exactly_one_leader_and_takeover_after_expiry(kube_api, fake_kube: FakeKube) -> None:
    lease = KubeLease(kube_api, "fs", "ctl", duration_s=15)
    t = 1_700_000_000.0
    results = await asyncio.gather(*(lease.acquire(f"c{i}", t) for i in range(4)))
    assert results.count(True) == 1
    winner = f"c{results.index(True)}"
    other = "c9"
    assert await lease.acquire(winner, t + 10)  # renew
    assert not await lease.acquire(other, t + 20)  # renewed at t+10: held until t+25
    assert await lease.acquire(other, t + 26)
    [obj] = fake_kube.objects("leases", "coordination.k8s.io")
    assert obj["spec"]["holderIdentity"] == other and obj["spec"]["leaseTransitions"] == 1
    await lease.release(other)
    assert await lease.acquire(winner, t + 27)  # released: free at once


async def test_client_sends_strategic_merge_for_builtin_patch(kube_api, fake_kube: FakeKube) -> None:
    # documents the trap the actuator avoids by using PUT /scale with a resourceVersion
    apps = client.AppsV1Api(kube_api)
    worker(fake_kube, replicas=1)
    await apps.patch_namespaced_deployment_scale("fs-m1-spot-a", "fs", {"spec": {"replicas": 2}})
    assert fake_kube.requests[-1].content_type == "application/strategic-merge-patch+json"


async def test_a_write_the_cache_has_not_seen_is_not_mistaken_for_no_change(
    kube_api, fake_kube, world
) -> None:
    """The watch may lag our own write: 2 -> 9 -> 2 in quick succession must end at 2."""
    reps = KubeReplicas(kube_api, S, world.clock, world)
    worker(fake_kube, replicas=2)
    await reps.replicas("m1", [SPOT])  # the cache shows 2, and stays so: its watch is held up
    [deployments] = [i for k, i in world.cache.informers.items() if k.endswith("/deployments")]
    fake_kube.inject(method="GET", query="watch=True", delay_s=5)  # the client sends watch=True
    await deployments.close()
    await reps.set_replicas("m1", SPOT, 9)
    await reps.set_replicas("m1", SPOT, 2)  # the cache still shows 2: it is written anyway
    assert fake_kube.objects("deployments", "apps")[0]["spec"]["replicas"] == 2
    assert scale_puts(fake_kube) == [200, 200]
