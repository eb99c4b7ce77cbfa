"""The fake API server, driven by the REAL kubernetes_asyncio client."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from tests.fakekube.server import FakeKube

NS = "default"


def deployment(name: str, replicas: int = 1, labels: dict[str, str] | None = None) -> client.V1Deployment:
    labels = labels or {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": name}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="pause")]),
            ),
        ),
    )


async def test_create_get_list_with_selectors(kube_api: client.ApiClient) -> None:
    apps = client.AppsV1Api(kube_api)
    await apps.create_namespaced_deployment(NS, deployment("a", labels={"app": "a", "tier": "gpu"}))
    await apps.create_namespaced_deployment(NS, deployment("b", labels={"app": "b", "tier": "cpu"}))
    await apps.create_namespaced_deployment(NS, deployment("c", labels={"app": "c"}))
    got = await apps.read_namespaced_deployment("a", NS)
    assert got.spec.replicas == 1 and got.metadata.resource_version
    for selector, names in [
        ("tier=gpu", ["a"]),
        ("tier!=gpu", ["b", "c"]),
        ("tier in (gpu,cpu)", ["a", "b"]),
        ("tier notin (gpu)", ["b", "c"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c"]),
        ("app=a,tier=gpu", ["a"]),
    ]:
        listed = await apps.list_namespaced_deployment(NS, label_selector=selector)
        assert [d.metadata.name for d in listed.items] == names, selector
    with pytest.raises(ApiException) as exc:
        await apps.create_namespaced_deployment(NS, deployment("a"))
    assert exc.value.status == 409
    with pytest.raises(ApiException) as exc:
        await apps.read_namespaced_deployment("zzz", NS)
    assert exc.value.status == 404


async def test_stale_put_is_409(kube_api: client.ApiClient) -> None:
    apps = client.AppsV1Api(kube_api)
    await apps.create_namespaced_deployment(NS, deployment("a"))
    first = await apps.read_namespaced_deployment("a", NS)
    second = await apps.read_namespaced_deployment("a", NS)
    first.spec.replicas = 3
    await apps.replace_namespaced_deployment("a", NS, first)
    second.spec.replicas = 5
    with pytest.raises(ApiException) as exc:
        await apps.replace_namespaced_deployment("a", NS, second)
    assert exc.value.status == 409
    assert (await apps.read_namespaced_deployment("a", NS)).spec.replicas == 3


async def test_scale_subresource_with_precondition(kube_api: client.ApiClient, fake_kube: FakeKube) -> None:
    apps = client.AppsV1Api(kube_api)
    await apps.create_namespaced_deployment(NS, deployment("a", replicas=2))
    scale = await apps.read_namespaced_deployment_scale("a", NS)
    assert scale.spec.replicas == 2 and scale.status.selector == "app=a"
    scale.spec.replicas = 4
    done = await apps.replace_namespaced_deployment_scale("a", NS, scale)
    assert done.spec.replicas == 4
    scale.spec.replicas = 6  # scale still carries the old resourceVersion
    with pytest.raises(ApiException) as exc:
        await apps.replace_namespaced_deployment_scale("a", NS, scale)
    assert exc.value.status == 409
    dep = await apps.read_namespaced_deployment("a", NS)
    assert dep.spec.replicas == 4 and dep.status.replicas == 4


async def test_patch_content_types(kube_api: client.ApiClient, fake_kube: FakeKube) -> None:
    apps = client.AppsV1Api(kube_api)
    await apps.create_namespaced_deployment(NS, deployment("a"))
    # a dict body on a built-in kind: the client sends strategic merge, which is accepted
    await apps.patch_namespaced_deployment_scale("a", NS, {"spec": {"replicas": 3}})
    assert fake_kube.requests[-1].content_type == "application/strategic-merge-patch+json"
    # a list body: JSON patch
    await apps.patch_namespaced_deployment("a", NS, [{"op": "replace", "path": "/spec/replicas", "value": 5}])
    assert fake_kube.requests[-1].content_type == "application/json-patch+json"
    # merge patch when asked for
    await apps.patch_namespaced_deployment(
        "a", NS, {"metadata": {"labels": {"x": "y"}}}, _content_type="application/merge-patch+json"
    )
    dep = await apps.read_namespaced_deployment("a", NS)
    assert dep.spec.replicas == 5 and dep.metadata.labels == {"app": "a", "x": "y"}
    with pytest.raises(ApiException) as exc:
        await apps.patch_namespaced_deployment(
            "a", NS, {"spec": {}}, _content_type="application/apply-patch+yaml"
        )
    assert exc.value.status == 415


async def test_strategic_merge_is_refused_for_custom_resources(
    kube_api: client.ApiClient, fake_kube: FakeKube
) -> None:
    fake_kube.put("nodeclaims", {"metadata": {"name": "nc1"}, "spec": {}}, group="karpenter.sh", version="v1")
    custom = client.CustomObjectsApi(kube_api)
    with pytest.raises(ApiException) as exc:
        await custom.patch_cluster_custom_object(
            "karpenter.sh",
            "v1",
            "nodeclaims",
            "nc1",
            {"metadata": {"labels": {"a": "b"}}},
            _content_type="application/strategic-merge-patch+json",
        )
    assert exc.value.status == 415
    await custom.patch_cluster_custom_object(
        "karpenter.sh",
        "v1",
        "nodeclaims",
        "nc1",
        {"metadata": {"labels": {"a": "b"}}},
        _content_type="application/merge-patch+json",
    )
    got = await custom.get_cluster_custom_object("karpenter.sh", "v1", "nodeclaims", "nc1")
    assert got["metadata"]["labels"] == {"a": "b"}


async def test_watch_streams_changes_and_410_for_old_versions(
    kube_api: client.ApiClient, fake_kube: FakeKube
) -> None:
    core = client.CoreV1Api(kube_api)
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="p1", labels={"app": "x"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="i")]),
    )
    await core.create_namespaced_pod(NS, pod)
    listed = await core.list_namespaced_pod(NS, label_selector="app=x")
    rv = listed.metadata.resource_version
    w = watch.Watch()
    seen: list[tuple[str, str]] = []

    async def consume() -> None:
        async for event in w.stream(
            core.list_namespaced_pod, NS, label_selector="app=x", resource_version=rv, timeout_seconds=5
        ):
            seen.append((event["type"], event["object"].metadata.name))
            if len(seen) == 2:
                w.stop()

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.1)
    await core.create_namespaced_pod(
        NS, client.V1Pod(metadata=client.V1ObjectMeta(name="other", labels={"app": "y"}), spec=pod.spec)
    )  # filtered out by the selector
    await core.delete_namespaced_pod("p1", NS)
    pod.metadata = client.V1ObjectMeta(name="p2", labels={"app": "x"})
    await core.create_namespaced_pod(NS, pod)
    await asyncio.wait_for(task, 10)
    assert seen == [("DELETED", "p1"), ("ADDED", "p2")]
    fake_kube.store.compact()
    await core.create_namespaced_pod(NS, client.V1Pod(metadata=client.V1ObjectMeta(name="p3"), spec=pod.spec))
    with pytest.raises(ApiException) as exc:
        async for _ in watch.Watch().stream(
            core.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=2
        ):
            pass
    assert exc.value.status == 410


async def test_injected_faults(kube_api: client.ApiClient, fake_kube: FakeKube) -> None:
    apps = client.AppsV1Api(kube_api)
    await apps.create_namespaced_deployment(NS, deployment("a"))
    fake_kube.inject(status=429, retry_after=2, path="/scale", times=1)
    with pytest.raises(ApiException) as exc:
        await apps.read_namespaced_deployment_scale("a", NS)
    assert exc.value.status == 429 and exc.value.headers["Retry-After"] == "2"
    fake_kube.inject(status=500, method="GET")
    with pytest.raises(ApiException) as exc:
        await apps.read_namespaced_deployment("a", NS)
    assert exc.value.status == 500
    # aiohttp retries an idempotent request once when a reused connection drops: reset twice
    fault = fake_kube.inject(reset=True, times=2)
    with pytest.raises(Exception) as reset:  # aiohttp's ServerDisconnectedError / ClientOSError
        await apps.read_namespaced_deployment("a", NS)
    assert not isinstance(reset.value, ApiException) and fault.times == 0
    assert (await apps.read_namespaced_deployment("a", NS)).metadata.name == "a"  # faults were one-shot


async def test_leases_and_priority_classes(kube_api: client.ApiClient) -> None:
    coord = client.CoordinationV1Api(kube_api)
    lease = client.V1Lease(
        metadata=client.V1ObjectMeta(name="l"),
        spec=client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=15),
    )
    await coord.create_namespaced_lease(NS, lease)
    got = await coord.read_namespaced_lease("l", NS)
    assert got.spec.holder_identity == "a"
    sched = client.SchedulingV1Api(kube_api)
    await sched.create_priority_class(
        client.V1PriorityClass(metadata=client.V1ObjectMeta(name="low"), value=-10)
    )
    assert (await sched.read_priority_class("low")).value == -10
