"""The Kubernetes actuator (kubernetes-asyncio): ``KubeReplicas`` (core.ports.ReplicaSetter)
and ``KubeNodes`` (core.ports.NodePoolProvider).

Replicas: one worker Deployment per model x pool, scaled only through the ``/scale``
subresource: read the Scale, change ``spec.replicas``, PUT it back carrying the
resourceVersion read, so a concurrent writer makes it fail with 409 instead of being
overwritten; ``with_retry`` then re-reads. The Deployment is created (at 0) if missing;
an existing one's template is never touched (operators own it).

Nodes: capacity ahead of demand through placeholder pods (see kube_objects); the node
count of a pool for a model is what its pods run on plus pending placeholders (nodes on
their way). Karpenter NodeClaims that failed to launch for lack of capacity mark the
pool insufficient (skipped when Karpenter is not installed).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from forescale.controller.actuators import kube_objects as ko
from forescale.controller.actuators.kube_retry import RetryPolicy, with_retry
from forescale.controller.settings import KubeSettings
from forescale.core.clock import Clock
from forescale.core.model import PoolObservation, PoolSpec
from forescale.core.ports import PoolReplicas, ReplicaCounts

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class _Kube:
    """What both halves share: API handles, settings, clock, retry policy."""

    def __init__(self, api: client.ApiClient, settings: KubeSettings, clock: Clock) -> None:
        self.api = api
        self.s = settings
        self.ns = settings.namespace
        self.clock = clock
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.retry = RetryPolicy(settings.retry_attempts, settings.retry_base_s, settings.retry_max_s)

    def dicts(self, items: Any) -> list[Obj]:
        return [self.api.sanitize_for_serialization(i) for i in items]

    async def call(self, what: str, op: Callable[[], Awaitable[Any]]) -> Any:
        return await with_retry(what, op, self.clock, self.retry)

    async def read_deployment(self, name: str) -> Obj | None:
        async def op() -> Obj | None:
            try:
                return self.api.sanitize_for_serialization(
                    await self.apps.read_namespaced_deployment(name, self.ns)
                )
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise

        return await self.call(f"read {name}", op)

    async def scale(self, name: str, replicas: int, body: Callable[[], Obj]) -> None:
        """Set ``name`` to ``replicas`` through /scale with a resourceVersion precondition."""

        async def op() -> None:
            try:
                scale = await self.apps.read_namespaced_deployment_scale(name, self.ns)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                if replicas > 0:  # missing: create it at the count wanted (409 if raced: re-read)
                    created: Any = body()  # dict bodies are sent as they are
                    created["spec"]["replicas"] = replicas
                    await self.apps.create_namespaced_deployment(self.ns, created)
                return
            if scale.spec.replicas == replicas:
                return
            scale.spec.replicas = replicas
            await self.apps.replace_namespaced_deployment_scale(name, self.ns, scale)

        await self.call(f"scale {name} to {replicas}", op)


class KubeReplicas(_Kube):
    async def replicas(self, model: str, pools: Sequence[PoolSpec]) -> PoolReplicas:
        selector = f"{ko.MODEL_LABEL}={model},{ko.ROLE_LABEL}=worker"
        found = await self.call(
            f"list workers of {model}",
            lambda: self.apps.list_namespaced_deployment(self.ns, label_selector=selector),
        )
        counts: dict[str, ReplicaCounts] = {}
        for dep in self.dicts(found.items):
            pool = dep["metadata"]["labels"].get(self.s.pool_label)
            want = int(dep["spec"].get("replicas") or 0)
            ready = min(want, int((dep.get("status") or {}).get("readyReplicas") or 0))
            counts[pool] = ReplicaCounts(desired=want, ready=ready, starting=want - ready)
        return PoolReplicas({p.name: counts.get(p.name, ReplicaCounts()) for p in pools})

    async def set_replicas(self, model: str, pool: PoolSpec, replicas: int) -> None:
        name = ko.worker_name(model, pool.name)
        await self.scale(name, replicas, lambda: ko.worker_deployment(model, pool, self.s))

    async def close(self) -> None:
        return None


class KubeNodes(_Kube):
    def __init__(self, api: client.ApiClient, settings: KubeSettings, clock: Clock) -> None:
        super().__init__(api, settings, clock)
        self.custom = client.CustomObjectsApi(api)
        self.sched = client.SchedulingV1Api(api)
        self._last_observed: dict[tuple[str, str], float] = {}
        self._draining: dict[tuple[str, str], set[str]] = {}
        self._priority_class_ok = False

    async def set_nodes(self, model: str, pool: PoolSpec, nodes: int, replicas: int) -> None:
        """Placeholders hold the nodes ``replicas`` worker pods will not fill."""
        await self._ensure_priority_class()
        worker = await self.read_deployment(ko.worker_name(model, pool.name))
        per_node = max(1, pool.gpus_per_node // max(1, ko.gpus_per_worker(worker, self.s)))
        placeholders = max(0, nodes - math.ceil(replicas / per_node))
        name = ko.placeholder_name(model, pool.name)
        await self.scale(
            name, placeholders, lambda: ko.placeholder_deployment(model, pool, self.s, placeholders)
        )

    async def _ensure_priority_class(self) -> None:
        if self._priority_class_ok:
            return

        async def op() -> None:
            try:
                body: Any = ko.priority_class(self.s)
                await self.sched.create_priority_class(body)
            except ApiException as exc:
                if exc.status != 409:  # 409: it exists already
                    raise

        await self.call("create placeholder PriorityClass", op)
        self._priority_class_ok = True

    async def observe(self, model: str, pools: Sequence[PoolSpec], now: float) -> tuple[PoolObservation, ...]:
        names = ",".join(p.name for p in pools)
        nodes = self.dicts((await self.call("list nodes", lambda: self.core.list_node(
            label_selector=f"{self.s.pool_label} in ({names})"))).items)  # fmt: skip
        pods = self.dicts((await self.call(f"list pods of {model}", lambda: self.core.list_namespaced_pod(
            self.ns, label_selector=f"{ko.MODEL_LABEL}={model}"))).items)  # fmt: skip
        failed = await self._failed_launches(names)
        return tuple(self._observe_pool(model, p, nodes, pods, p.name in failed, now) for p in pools)

    def _observe_pool(
        self, model: str, pool: PoolSpec, nodes: list[Obj], pods: list[Obj], failed: bool, now: float
    ) -> PoolObservation:
        mine = [p for p in pods if p["metadata"].get("labels", {}).get(self.s.pool_label) == pool.name]
        hosts = {p["spec"].get("nodeName") for p in mine}
        in_pool = [n for n in nodes if n["metadata"]["name"] in hosts]
        states = [ko.node_state(n) for n in in_pool]
        pending_placeholders = sum(
            1
            for p in mine
            if p["metadata"]["labels"].get(ko.ROLE_LABEL) == "placeholder" and ko.pod_pending(p)
        )
        key = (model, pool.name)
        since = self._last_observed.get(key, now)
        self._last_observed[key] = now
        lead = []
        for n in in_pool:
            ready_at = ko.ready_since(n)
            created = ko.parse_time(n["metadata"].get("creationTimestamp"))
            if ready_at is not None and created is not None and since < ready_at <= now:
                lead.append(ready_at - created)
        draining = {n["metadata"]["name"] for n, s in zip(in_pool, states, strict=True) if s == "draining"}
        new_notices = len(draining - self._draining.get(key, set()))
        self._draining[key] = draining
        return PoolObservation(
            name=pool.name,
            ready_nodes=states.count("ready"),
            starting_nodes=states.count("starting") + pending_placeholders,
            draining_nodes=len(draining),
            insufficient_capacity_at=now if failed else None,
            interruptions=new_notices,
            lead_times_s=tuple(lead),
        )

    async def _failed_launches(self, pool_names: str) -> set[str]:
        """NodePools (named like our pools) with a NodeClaim that failed for lack of capacity."""

        async def op() -> Any:
            try:
                return await self.custom.list_cluster_custom_object(
                    "karpenter.sh",
                    "v1",
                    "nodeclaims",
                    label_selector=f"karpenter.sh/nodepool in ({pool_names})",
                )
            except ApiException as exc:
                if exc.status == 404:  # Karpenter not installed
                    return {"items": []}
                raise

        found = await self.call("list nodeclaims", op)
        return {
            c["metadata"]["labels"]["karpenter.sh/nodepool"]
            for c in found.get("items", [])
            if ko.launch_failed(c)
        }

    async def close(self) -> None:
        return None
