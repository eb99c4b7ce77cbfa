"""Scale targets through the REAL kubernetes_asyncio client against the fake API server:
the controller scales workloads it did not create (a StatefulSet, a LeaderWorkerSet),
never creates one, and leaves alone a target an HPA or a KEDA ScaledObject already scales.

Pass criteria: the user's object's spec.replicas follows the decision; no POST of any
workload; a missing target or a conflict is a problem of the model with a clear message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from forescale.controller.actuators import kube_objects as ko
from forescale.controller.actuators.kube_world import KubeWorld, store_policies
from forescale.controller.actuators.kubernetes import KubeNodes, KubeReplicas
from forescale.controller.api.app import create_app
from forescale.controller.api.deps import ApiDeps
from forescale.controller.errors import ActuatorError
from forescale.controller.loop import Controller
from forescale.controller.settings import KubeSettings
from forescale.controller.store import Store
from forescale.core.targets import ScaleTarget
from forescale.sim.fakes import FakeMetricsSource
from tests.api.conftest import R
from tests.api.conftest import settings as api_settings
from tests.controller.conftest import ON_DEMAND, SPEC, SPOT, SteppingClock
from tests.fakekube.server import FakeKube

S = KubeSettings(namespace="fs", retry_attempts=3, retry_base_s=0.5, retry_max_s=10)
LWS_API = "leaderworkerset.x-k8s.io/v1"
POOL8 = SPOT.model_copy(update={"gpus_per_node": 8})


@pytest.fixture
async def world(kube_api, store: Store) -> AsyncIterator[KubeWorld]:
    w = KubeWorld(kube_api, S, SteppingClock(), policies=store_policies(store), policy_refresh_s=0)
    yield w
    await w.close()


def gpu_pod(gpus: int, *, limits_only: bool = False) -> dict:
    res = {"limits": {"nvidia.com/gpu": str(gpus)}}
    if not limits_only:
        res["requests"] = {"nvidia.com/gpu": str(gpus)}
    return {"containers": [{"name": "vllm", "image": "vllm/vllm-openai", "resources": res}]}


def statefulset(name: str, ns: str = "serving", replicas: int = 1) -> dict:
    labels = {"app": name}
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "serviceName": name,
                     "template": {"metadata": {"labels": labels}, "spec": gpu_pod(1)}}}  # fmt: skip


def lws(name: str, size: int, gpus: int, ns: str = "serving", replicas: int = 1) -> dict:
    template = {"metadata": {"labels": {"app": name}}, "spec": gpu_pod(gpus, limits_only=True)}
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas,
                     "leaderWorkerTemplate": {"size": size, "workerTemplate": template}},
            "status": {"replicas": replicas, "readyReplicas": replicas}}  # fmt: skip


def writes(fake: FakeKube) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests if r.method in ("POST", "PUT", "PATCH", "DELETE")]


async def controller(
    store: Store, world: KubeWorld, kube_api, metrics
) -> tuple[Controller, FakeMetricsSource]:
    source = FakeMetricsSource()
    nodes = KubeNodes(kube_api, S, world.clock, world)
    reps = KubeReplicas(kube_api, S, world.clock, world)
    return Controller(store, source, nodes, reps, world.clock, metrics=metrics), source


async def test_loop_scales_a_statefulset_it_did_not_create(
    store, kube_api, fake_kube, world, metrics
) -> None:
    fake_kube.put("statefulsets", statefulset("vllm"), "apps")
    target = ScaleTarget(api_version="apps/v1", kind="StatefulSet", name="vllm", namespace="serving")
    await store.pools.put(SPOT)
    await store.policies.put(SPEC.model_copy(update={"pools": ("spot-a",), "targets": (target,)}))
    ctl, source = await controller(store, world, kube_api, metrics)
    source.set("m1", rps=35.0)
    [d] = await ctl.tick()
    assert d.desired_replicas == 4
    [sts] = fake_kube.objects("statefulsets", "apps")
    assert sts["spec"]["replicas"] == 4 and sts["spec"]["template"]["spec"] == gpu_pod(1)  # only replicas
    assert [w for w in writes(fake_kube) if "placeholder" not in w[1]] == [
        ("PUT", "/apis/apps/v1/namespaces/serving/statefulsets/vllm/scale")
    ]
    assert ("POST", "/apis/apps/v1/namespaces/serving/statefulsets") not in writes(fake_kube)


async def test_loop_scales_a_leaderworkerset_for_all_pools(
    store, kube_api, fake_kube, world, metrics
) -> None:
    fake_kube.put("leaderworkersets", lws("big", size=2, gpus=8), "leaderworkerset.x-k8s.io", "v1")
    target = ScaleTarget(api_version=LWS_API, kind="LeaderWorkerSet", name="big", namespace="serving")
    await store.pools.put(SPOT)
    await store.pools.put(ON_DEMAND)
    await store.policies.put(SPEC.model_copy(update={"targets": (target,), "on_demand_base": 1}))
    ctl, source = await controller(store, world, kube_api, metrics)
    source.set("m1", rps=35.0)
    [d] = await ctl.tick()
    assert d.desired_replicas == 4 and len([t for t in d.pools if t.replicas]) == 2  # split over pools
    [obj] = fake_kube.objects("leaderworkersets", "leaderworkerset.x-k8s.io")
    assert obj["spec"]["replicas"] == 4  # one target: the sum over the pools
    assert world.problems["m1"] == []
    # the next tick with the same demand writes nothing to the LWS
    before = [w for w in writes(fake_kube) if "leaderworkersets" in w[1]]
    world.clock.advance(15)
    await fake_kube.settle(world.cache.informers.values())
    await ctl.tick()
    assert [w for w in writes(fake_kube) if "leaderworkersets" in w[1]] == before


async def test_multi_host_replicas_hold_whole_groups_of_nodes(store, kube_api, fake_kube, world) -> None:
    """A replica of 2 pods x 8 GPUs (limits only) on 8-GPU nodes takes 2 nodes: 3 replicas
    fill 6 of 7 nodes, so one placeholder holds the seventh."""
    fake_kube.put("leaderworkersets", lws("big", size=2, gpus=8), "leaderworkerset.x-k8s.io", "v1")
    target = ScaleTarget(api_version=LWS_API, kind="LeaderWorkerSet", name="big", namespace="serving")
    await store.policies.put(SPEC.model_copy(update={"targets": (target,)}))
    nodes = KubeNodes(kube_api, S, world.clock, world)
    await nodes.set_nodes("m1", POOL8, 7, 3)
    [ph] = fake_kube.objects("deployments", "apps")
    assert ph["metadata"]["name"] == "fs-placeholder-m1-spot-a" and ph["spec"]["replicas"] == 1


async def test_missing_target_is_a_clear_error_and_nothing_is_created(
    store, kube_api, fake_kube, world, metrics, registry
) -> None:
    target = ScaleTarget(api_version="apps/v1", kind="StatefulSet", name="absent", namespace="serving")
    await store.pools.put(SPOT)
    await store.policies.put(SPEC.model_copy(update={"pools": ("spot-a",), "targets": (target,)}))
    ctl, source = await controller(store, world, kube_api, metrics)
    source.set("m1", rps=35.0)
    assert await ctl.tick() == []
    assert world.problems["m1"] == [
        "scale target StatefulSet serving/absent not found: forescale never creates workloads; create it, "
        "or name an existing object with a /scale subresource in the policy's `targets`"
    ]
    assert registry.get_sample_value("forescale_controller_errors_total", {"kind": "target-missing"}) == 1
    assert writes(fake_kube) == []
    with pytest.raises(ActuatorError, match="StatefulSet serving/absent not found"):
        await KubeReplicas(kube_api, S, world.clock, world).set_replicas("m1", SPOT, 2)
    assert writes(fake_kube) == []


async def test_a_kind_without_scale_is_reported(store, kube_api, fake_kube, world) -> None:
    target = ScaleTarget(api_version="coordination.k8s.io/v1", kind="Lease", name="x", namespace="fs")
    await store.policies.put(SPEC.model_copy(update={"targets": (target,)}))
    await KubeReplicas(kube_api, S, world.clock, world).replicas("m1", [SPOT])
    problem = (
        "scale target Lease fs/x: target-no-scale: Lease (coordination.k8s.io/v1) has no /scale subresource"
    )
    assert world.problems["m1"] == [problem]
    with pytest.raises(ActuatorError) as exc:
        await KubeNodes(kube_api, S, world.clock, world).observe("m1", [SPOT], world.clock.now())
    assert exc.value.kind == "target-no-scale" and str(exc.value) == f"target-no-scale: {problem}"


@pytest.mark.parametrize(
    ("plural", "group", "version", "ref"),
    [
        ("horizontalpodautoscalers", "autoscaling", "v2", "HorizontalPodAutoscaler vllm-hpa"),
        ("scaledobjects", "keda.sh", "v1alpha1", "ScaledObject vllm-hpa"),
    ],
)
async def test_a_target_another_autoscaler_scales_is_reported_and_not_written(
    store, kube_api, fake_kube, world, plural, group, version, ref
) -> None:
    fake_kube.put("statefulsets", statefulset("vllm", replicas=2), "apps")
    scale_ref = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "vllm"}
    fake_kube.put(plural, {"metadata": {"name": "vllm-hpa", "namespace": "serving"},
                           "spec": {"scaleTargetRef": scale_ref, "minReplicas": 1, "maxReplicas": 5}},
                  group, version)  # fmt: skip
    target = ScaleTarget(api_version="apps/v1", kind="StatefulSet", name="vllm", namespace="serving")
    await store.policies.put(SPEC.model_copy(update={"targets": (target,)}))
    reps = KubeReplicas(kube_api, S, world.clock, world)
    got = await reps.replicas("m1", [SPOT])
    assert got.desired == 2
    assert world.problems["m1"] == [
        f"StatefulSet serving/vllm is already scaled by {ref}: forescale does not write it"
    ]
    await reps.set_replicas("m1", SPOT, 4)
    assert writes(fake_kube) == []
    assert fake_kube.objects("statefulsets", "apps")[0]["spec"]["replicas"] == 2


async def test_one_target_splits_replicas_by_where_its_pods_run(store, kube_api, fake_kube, world) -> None:
    fake_kube.put(
        "leaderworkersets", lws("big", size=2, gpus=8, replicas=3), "leaderworkerset.x-k8s.io", "v1"
    )
    for name, pool in (("n1", "spot-a"), ("n2", "spot-a"), ("n3", "od-a"), ("n4", "od-a")):
        fake_kube.put("nodes", {"metadata": {"name": name, "labels": {"forescale.io/pool": pool}}})
    for i, host in enumerate(("n1", "n2", "n3", "n4")):  # two groups placed, the third pending
        fake_kube.put("pods", {"metadata": {"name": f"big-{i}", "namespace": "serving",
                                            "labels": {"leaderworkerset.sigs.k8s.io/name": "big"}},
                               "spec": {"nodeName": host},
                               "status": {"conditions": [{"type": "Ready", "status": "True"}]}})  # fmt: skip
    target = ScaleTarget(api_version=LWS_API, kind="LeaderWorkerSet", name="big", namespace="serving")
    await store.policies.put(SPEC.model_copy(update={"targets": (target,)}))
    got = await KubeReplicas(kube_api, S, world.clock, world).replicas("m1", [SPOT, ON_DEMAND])
    assert {p: (c.desired, c.ready) for p, c in got.by_pool.items()} == {"spot-a": (2, 1), "od-a": (1, 1)}
    assert got.desired == 3 and ko.label_value("m1") == "m1"


async def test_status_reports_target_problems(store, kube_api, fake_kube, world) -> None:
    target = ScaleTarget(api_version="apps/v1", kind="StatefulSet", name="absent", namespace="serving")
    await store.pools.put(SPOT)
    await store.policies.put(SPEC.model_copy(update={"pools": ("spot-a",), "targets": (target,)}))
    reps = KubeReplicas(kube_api, S, world.clock, world)
    app = create_app(api_settings(), ApiDeps(store=store, clock=world.clock, replicas=reps))
    async with TestClient(TestServer(app)) as http:
        r = await http.get("/v1/status", headers=R)
        assert r.status == 200
        (m,) = (await r.json())["models"]
    assert m["current_replicas"] == 0
    assert m["target_problems"] == [
        "scale target StatefulSet serving/absent not found: forescale never creates workloads; create it, "
        "or name an existing object with a /scale subresource in the policy's `targets`"
    ]
    assert writes(fake_kube) == []


async def test_any_custom_resource_with_scale_and_no_keda_installed(
    store, kube_api, fake_kube, world
) -> None:
    """An Argo Rollout is found through discovery and scaled through its /scale; a cluster
    without KEDA (its ScaledObjects list answers 404) is no error."""
    fake_kube.inject(status=404, path="/scaledobjects", times=1)
    template = {"metadata": {"labels": {"app": "chat"}}, "spec": gpu_pod(2)}
    spec = {"replicas": 1, "selector": {"matchLabels": {"app": "chat"}}, "template": template}
    rollout = {"metadata": {"name": "chat", "namespace": "serving"}, "spec": spec}
    fake_kube.put("rollouts", rollout, "argoproj.io", "v1alpha1")
    target = ScaleTarget(api_version="argoproj.io/v1alpha1", kind="Rollout", name="chat", namespace="serving")
    await store.policies.put(SPEC.model_copy(update={"targets": (target,)}))
    reps = KubeReplicas(kube_api, S, world.clock, world)
    assert (await reps.replicas("m1", [SPOT])).desired == 1
    await reps.set_replicas("m1", SPOT, 3)
    assert fake_kube.objects("rollouts", "argoproj.io", "v1alpha1")[0]["spec"]["replicas"] == 3
    assert world.problems["m1"] == [] and world.cache.informers["scaledobjects/serving"].absent
    assert writes(fake_kube) == [("PUT", "/apis/argoproj.io/v1alpha1/namespaces/serving/rollouts/chat/scale")]


async def test_free_text_model_names_make_valid_objects_and_labels(kube_api, fake_kube, world) -> None:
    model = "meta-llama/Llama-3.1-8B-Instruct"
    nodes = KubeNodes(kube_api, S, world.clock, world)
    await nodes.set_nodes(model, POOL8, 2, 0)  # no policy stored: the default target is missing
    [ph] = fake_kube.objects("deployments", "apps")
    name, label = ph["metadata"]["name"], ph["metadata"]["labels"]["forescale.io/model"]
    assert name == ko.placeholder_name(model, "spot-a") and name.startswith(
        "fs-placeholder-meta-llama-llama-3-1"
    )
    assert label == ko.label_value(model) and label.startswith("meta-llama_Llama-3.1-8B-Instruct-")
    assert ph["spec"]["replicas"] == 2
    with pytest.raises(ActuatorError, match=f"Deployment fs/{ko.worker_name(model, 'spot-a')} not found"):
        await nodes.observe(model, [POOL8], world.clock.now())
