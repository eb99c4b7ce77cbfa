"""Issue 12's "done when": forescale's controller scales a StatefulSet and a LeaderWorkerSet
it did not create, from vLLM's own series in a real Prometheus.

Everything real but the cluster: the ``Controller`` loop with the decision core, the
``PrometheusSource`` against a real Prometheus backfilled with promtool (OpenMetrics
written here, vLLM's metric names and labels, free-text ``model_name`` values, decoys
100x larger in another namespace and for another model), the Kubernetes actuator through
the real kubernetes-asyncio client against the in-repo fake API server, and the policies'
state in a real redis-server. The StatefulSet's policy is ``examples/vllm-policy.yaml``
with only its model name and target changed.

Pass criteria: each target's ``/scale`` replicas become the HPA v2 count the series give
(worked out in the comments below); the only writes are those two ``PUT .../scale``
(nothing created, deleted or patched); the LeaderWorkerSet's placeholders and node count
are per whole group (size x GPUs per pod on 8-GPU nodes).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from forescale.controller.actuators import kube_objects as ko
from forescale.controller.actuators.kube_world import KubeWorld, store_policies
from forescale.controller.actuators.kubernetes import KubeNodes, KubeReplicas
from forescale.controller.loop import Controller
from forescale.controller.settings import KubeSettings
from forescale.controller.signals.prometheus import PrometheusSource
from forescale.controller.store import Store
from forescale.core.model import PolicySpec, PoolSpec
from forescale.devstack.prometheus_server import PrometheusServer, backfill
from tests.controller.conftest import SteppingClock, metrics, registry, store
from tests.controller.test_targets import LWS_API, lws, statefulset, writes
from tests.fakekube.conftest import fake_kube, kube_api
from tests.signals.test_presets_prometheus import STEP_S, Series, _openmetrics

__all__ = ["fake_kube", "kube_api", "metrics", "registry", "store"]  # fixtures reused

ROOT = Path(__file__).resolve().parents[2]
NS = "llm"
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"  # a StatefulSet of 1-GPU pods
QWEN = "Qwen/Qwen2.5-72B-Instruct"  # a LeaderWorkerSet: 2 pods x 8 GPUs per replica
SPAN_S = 1200
S = KubeSettings(namespace="fs")
SPOT = PoolSpec(name="gpu-spot", capacity_type="spot", gpus_per_node=8, price_per_node_hour=30.0,
                max_nodes=20, lead_time_s=300)  # fmt: skip
OD = PoolSpec(name="gpu-od", capacity_type="on-demand", gpus_per_node=8, price_per_node_hour=98.0,
              max_nodes=20, lead_time_s=240)  # fmt: skip

# per pod: (request_success rate/s, running, waiting, KV usage); vLLM's labels + scrape labels
PODS = {
    LLAMA: {"llama-0": (3.0, 60.0, 4.0, 0.5), "llama-1": (5.0, 50.0, 6.0, 0.7)},
    QWEN: {"qwen-0": (6.0, 40.0, 12.0, 0.9)},  # the group's leader serves; its worker does not export
}
NAMES = ("vllm:request_success_total", "vllm:num_requests_running", "vllm:num_requests_waiting",
         "vllm:kv_cache_usage_perc")  # fmt: skip


def _series() -> Series:
    out: Series = {n: [] for n in NAMES}
    for model, pods in PODS.items():
        for ns, model_name, factor in ((NS, model, 1.0), ("other", model, 100.0), (NS, "other/model", 100.0)):
            for pod, values in pods.items():
                labels = (f'model_name="{model_name}",engine="0",namespace="{ns}",pod="{pod}",'
                          f'job="{ns}/vllm",instance="{pod}:8000"')  # fmt: skip
                for name, value in zip(NAMES, values, strict=True):
                    kind = "c" if name.endswith("_total") else "g"
                    if factor != 1.0:  # a decoy: 100x the load, KV usage near empty
                        value = 0.01 if name == "vllm:kv_cache_usage_perc" else value * factor
                    out[name].append((labels, kind, value))
    return out


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    work: Path = tmp_path_factory.mktemp("vllm")
    now = int(time.time()) // STEP_S * STEP_S
    with PrometheusServer(
        storage_dir=backfill(_openmetrics(_series(), now - SPAN_S, now + SPAN_S), work), retention="30d"
    ) as server:
        yield server


@pytest.fixture
async def world(kube_api: Any, store: Store) -> AsyncIterator[KubeWorld]:
    w = KubeWorld(kube_api, S, SteppingClock(), policies=store_policies(store))
    yield w
    await w.close()


def _policies() -> tuple[PolicySpec, PolicySpec]:
    [example] = yaml.safe_load((ROOT / "examples" / "vllm-policy.yaml").read_text())["policies"]
    llama = PolicySpec.model_validate({
        **example, "model": LLAMA,
        "targets": [{"api_version": "apps/v1", "kind": "StatefulSet", "name": "llama", "namespace": NS}],
    })  # fmt: skip
    qwen = PolicySpec.model_validate({
        "model": QWEN, "pools": ["gpu-od"], "min_replicas": 1, "max_replicas": 8,
        "target_rps_per_replica": 3, "gpus_per_replica": 8,  # one pod's GPUs: the core's per-node unit
        "targets": [{"api_version": LWS_API, "kind": "LeaderWorkerSet", "name": "qwen", "namespace": NS}],
        "metrics": [{"kind": "request_rate", "preset": "vllm", "namespace": NS},
                    {"kind": "in_flight", "preset": "vllm", "namespace": NS, "target": 16},
                    {"kind": "waiting", "preset": "vllm", "namespace": NS, "target": 4},
                    {"kind": "kv_cache_usage", "preset": "vllm", "namespace": NS, "target": 0.25}],
    })  # fmt: skip
    return llama, qwen


def _workloads(fake: Any) -> set[tuple[str, str, str]]:
    """Every StatefulSet and LeaderWorkerSet with its uid: any recreation would show."""
    kinds = (("statefulsets", "apps"), ("leaderworkersets", "leaderworkerset.x-k8s.io"))
    return {
        (p, o["metadata"]["name"], o["metadata"].get("uid")) for p, g in kinds for o in fake.objects(p, g)
    }


def _ready(obj: dict[str, Any]) -> dict[str, Any]:
    obj["status"] = {"replicas": obj["spec"]["replicas"], "readyReplicas": obj["spec"]["replicas"]}
    return obj


async def test_controller_scales_a_statefulset_and_a_leaderworkerset_from_vllm_series(
    prometheus: PrometheusServer, store: Store, kube_api: Any, fake_kube: Any, world: KubeWorld, metrics: Any
) -> None:
    fake_kube.put("statefulsets", _ready(statefulset("llama", ns=NS, replicas=2)), "apps")
    fake_kube.put("leaderworkersets", lws("qwen", size=2, gpus=8, ns=NS, replicas=1),
                  "leaderworkerset.x-k8s.io", "v1")  # fmt: skip
    created = _workloads(fake_kube)
    for pool in (SPOT, OD):
        await store.pools.put(pool)
    for spec in _policies():
        await store.policies.put(spec)
    clock = world.clock
    nodes, reps = KubeNodes(kube_api, S, clock, world), KubeReplicas(kube_api, S, clock, world)
    ctl = Controller(
        store, PrometheusSource(prometheus.url, timeout_s=5), nodes, reps, clock, metrics=metrics
    )

    decisions = {d.model: d for d in await ctl.tick()}

    # Llama (the example's policy, 2 replicas now): in flight 60+50 = 110 over 24 per replica
    # -> 5; waiting 10 / 4 -> 3; request rate 8 req/s / 4 -> 2; KV mean 0.6 x 2 / 0.8 -> 2.
    # The decoys (another namespace, another model name, 100x) are not summed in.
    llama = decisions[LLAMA]
    terms = {r.term: r.replicas for r in llama.reasons}
    assert (terms["metric:in_flight"], terms["metric:waiting"], terms["reactive"]) == (5, 3, 2)
    assert terms["metric:kv_cache_usage"] == 2
    assert llama.desired_replicas == 5 and llama.winner == "metric:in_flight"
    # Qwen (1 replica): KV 0.9 / 0.25 -> 4; in flight 40 / 16 -> 3; waiting 12 / 4 -> 3; 6 / 3 -> 2.
    qwen = decisions[QWEN]
    terms = {r.term: r.replicas for r in qwen.reasons}
    assert (terms["metric:in_flight"], terms["metric:waiting"], terms["reactive"]) == (3, 3, 2)
    assert qwen.desired_replicas == 4 and qwen.winner == "metric:kv_cache_usage"
    assert sum(t.replicas for t in llama.pools) == 5 and {t.pool for t in llama.pools} <= {
        "gpu-spot",
        "gpu-od",
    }

    [sts] = fake_kube.objects("statefulsets", "apps")
    [group] = fake_kube.objects("leaderworkersets", "leaderworkerset.x-k8s.io")
    assert sts["spec"]["replicas"] == 5 and group["spec"]["replicas"] == 4  # one target: the sum over pools
    assert sts["spec"]["template"] == statefulset("llama", ns=NS)["spec"]["template"]  # only replicas written
    assert world.problems == {LLAMA: [], QWEN: []}
    assert sorted(writes(fake_kube)) == [
        ("PUT", f"/apis/apps/v1/namespaces/{NS}/statefulsets/llama/scale"),
        ("PUT", f"/apis/{LWS_API}/namespaces/{NS}/leaderworkersets/qwen/scale"),
    ]  # nothing created (not even a placeholder: the replicas' own pods fill the planned nodes)
    assert _workloads(fake_kube) == created and fake_kube.objects("deployments", "apps") == []

    # A Qwen replica is 2 pods x 8 GPUs: on 8-GPU nodes 4 replicas fill 8 nodes, so the 10
    # nodes a prescale might ask for leave 2 for placeholders (not 6), and the 8 nodes its
    # placed pods run on are what the next observation counts ready.
    await nodes.set_nodes(QWEN, OD, 10, 4)
    [ph] = fake_kube.objects("deployments", "apps")
    assert ph["metadata"]["name"] == ko.placeholder_name(QWEN, "gpu-od") and ph["spec"]["replicas"] == 2
    for i in range(8):  # 4 groups placed by the LWS controller and Karpenter, one pod per node
        fake_kube.put("nodes", {"metadata": {"name": f"n{i}", "labels": {S.pool_label: "gpu-od"}},
                                "status": {"conditions": [{"type": "Ready", "status": "True"}]}})  # fmt: skip
        fake_kube.put("pods", {"metadata": {"name": f"qwen-{i // 2}-{i % 2}", "namespace": NS,
                                            "labels": {"leaderworkerset.sigs.k8s.io/name": "qwen"}},
                               "spec": {"nodeName": f"n{i}"},
                               "status": {"conditions": [{"type": "Ready", "status": "True"}]}})  # fmt: skip
    await fake_kube.settle(world.cache.informers.values())
    [seen] = await nodes.observe(QWEN, [OD], clock.now())
    assert seen.ready_nodes == 8
