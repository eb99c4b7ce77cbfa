"""Scale targets as values (tables), and the watch-fed cache against the fake API server."""

from __future__ import annotations

import asyncio
import re

import pytest
from kubernetes_asyncio import client
from pydantic import ValidationError

from forescale.controller.actuators import kube_objects as ko
from forescale.controller.actuators import kube_targets as kt
from forescale.controller.actuators.kube_cache import Informer
from forescale.core.model import PolicySpec
from forescale.core.targets import ScaleTarget
from tests.fakekube.objects import KINDS
from tests.fakekube.server import FakeKube

STS = {"api_version": "apps/v1", "kind": "StatefulSet", "name": "vllm"}


@pytest.mark.parametrize(
    ("targets", "error"),
    [
        ([STS], None),
        ([{**STS, "pool": "a"}, {**STS, "name": "other", "pool": "b"}], None),
        ([STS, {**STS, "pool": "b"}], "must be the only target"),
        ([{**STS, "pool": "a"}, {**STS, "pool": "a"}], "at most one target per pool"),
        ([{**STS, "api_version": "apps"}], "api_version"),
        ([{**STS, "kind": "statefulset"}], "kind"),
        ([{**STS, "name": "Bad_Name"}], "name"),
        ([{**STS, "replicas": 3}], "Extra inputs"),
    ],
)
def test_policy_targets_are_validated(targets: list[dict], error: str | None) -> None:
    body = {"model": "m1", "target_rps_per_replica": 10, "targets": targets}
    if error is None:
        assert len(PolicySpec.model_validate(body).targets) == len(targets)
    else:
        with pytest.raises(ValidationError, match=error):
            PolicySpec.model_validate(body)


@pytest.mark.parametrize(
    "model",
    ["m1", "meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-72B-Instruct", "a" * 80, "///", "a/b", "a_b"],
)
def test_names_and_labels_from_free_text_models_are_valid_and_distinct(model: str) -> None:
    label, name = ko.label_value(model), ko.placeholder_name(model, "spot-a")
    assert re.fullmatch(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?", label)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name)
    assert ko.label_value("a/b") != ko.label_value("a_b") and ko.worker_name("A", "p") != ko.worker_name(
        "a", "p"
    )


def pod(gpus: dict[str, dict[str, str]]) -> dict:
    return {"containers": [{"name": "c", "resources": gpus}]}


@pytest.mark.parametrize(
    ("obj", "shape"),
    [
        (None, kt.Shape(1, 2)),  # no object: the policy's gpus_per_replica
        ({"spec": {"template": {"spec": pod({"requests": {"nvidia.com/gpu": "4"}})}}}, kt.Shape(1, 4)),
        ({"spec": {"template": {"spec": pod({"limits": {"nvidia.com/gpu": "8"}})}}}, kt.Shape(1, 8)),
        ({"spec": {"template": {"spec": pod({})}}}, kt.Shape(1, 2)),  # no GPUs named: the policy's
        (
            {
                "spec": {
                    "leaderWorkerTemplate": {
                        "size": 4,
                        "workerTemplate": {"spec": pod({"limits": {"nvidia.com/gpu": "8"}})},
                    }
                }
            },
            kt.Shape(4, 8),
        ),
    ],
)
def test_shape_of_a_replica(obj: dict | None, shape: kt.Shape) -> None:
    assert kt.shape(obj, "nvidia.com/gpu", 2) == shape


@pytest.mark.parametrize(
    ("replicas", "pods", "gpus", "per_node", "nodes"),
    [(0, 1, 1, 8, 0), (5, 1, 1, 4, 2), (3, 2, 8, 8, 6), (3, 1, 16, 8, 3), (1, 4, 4, 8, 2)],
)
def test_nodes_for_replicas(replicas: int, pods: int, gpus: int, per_node: int, nodes: int) -> None:
    assert ko.nodes_for(replicas, pods, gpus, per_node) == nodes


def test_pod_selector_and_conflicts() -> None:
    assert kt.pod_selector({"kind": "LeaderWorkerSet", "metadata": {"name": "x"}}) == {kt.LWS_NAME_LABEL: "x"}
    assert kt.pod_selector({"metadata": {"name": "r"}, "status": {"selector": "app=r,tier in (a)"}}) == {
        "app": "r"
    }
    target = ScaleTarget(api_version="argoproj.io/v1alpha1", kind="Rollout", name="r")
    ref = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "r"}
    hpa = {"metadata": {"name": "h"}, "spec": {"scaleTargetRef": ref}}
    keda_default_kind = {"metadata": {"name": "k"}, "spec": {"scaleTargetRef": {"name": "r"}}}  # a Deployment
    assert kt.conflicts(target, [hpa], [keda_default_kind]) == ["HorizontalPodAutoscaler h"]


async def test_informer_follows_events_and_relists_after_410(fake_kube: FakeKube, kube_api) -> None:
    core = client.CoreV1Api(kube_api)
    inf = Informer("nodes", lambda watch, **kw: core.list_node(watch=watch, _preload_content=False, **kw))

    async def first(list_) -> None:  # type: ignore[no-untyped-def]
        await list_()

    fake_kube.put("nodes", {"metadata": {"name": "n1"}})
    await inf.ensure(first)
    big = {"note": "x" * 100_000}  # an event line over aiohttp's 64 KiB readline limit
    fake_kube.put("nodes", {"metadata": {"name": "n2", "labels": {"p": "a"}, "annotations": big}})
    fake_kube.store.delete(KINDS[("", "v1", "nodes")], "", "n1")
    await fake_kube.settle([inf])
    assert [n["metadata"]["name"] for n in inf.select({"p": "a"})] == ["n2"] and inf.get("", "n1") is None
    lists = len([r for r in fake_kube.requests if r.path == "/api/v1/nodes"])
    await inf.close()
    fake_kube.put("nodes", {"metadata": {"name": "n3"}})
    fake_kube.store.compact()
    fake_kube.put("nodes", {"metadata": {"name": "n4"}})
    inf.rv = "1"  # older than the kept history: the server answers 410 Gone
    assert await inf._watch() is True
    await inf.list()
    assert sorted(k[1] for k in inf.objects) == ["n2", "n3", "n4"]
    assert lists == 1  # one list, then events only


async def test_a_failing_watch_backs_off_then_resumes(fake_kube: FakeKube, kube_api) -> None:
    """Two watch requests answered 500: the informer waits 1 s, then 2 s (its own sleep,
    recorded here instead of slept), then follows events again."""
    core = client.CoreV1Api(kube_api)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0)

    lister = lambda watch, **kw: core.list_node(watch=watch, _preload_content=False, **kw)  # noqa: E731
    inf = Informer("nodes", lister, sleep=sleep)
    fake_kube.inject(status=500, method="GET", query="watch=True", times=2)

    async def first(list_) -> None:  # type: ignore[no-untyped-def]
        await list_()

    await inf.ensure(first)
    fake_kube.put("nodes", {"metadata": {"name": "n1"}})
    await fake_kube.settle([inf])
    assert inf.get("", "n1") is not None and slept == [1.0, 2.0]
    await inf.close()
