"""The Kubernetes actuator (kubernetes-asyncio): ``KubeReplicas`` (core.ports.ReplicaSetter)
and ``KubeNodes`` (core.ports.NodePoolProvider).

Replicas are set on *scale targets* (kube_targets): whatever object with a ``/scale``
subresource a policy names, one per pool or one for all pools, else forescale's own
``fs-{model}-{pool}`` Deployment. forescale never creates, deletes or edits a workload:
a missing target is an ``ActuatorError`` (``target-missing``) with a clear message, and a
target an HPA or KEDA ScaledObject already scales is reported and left alone. Writes go
through ``/scale`` with the resourceVersion read; nothing is written when the watch-fed
cache already shows the count wanted.

Nodes: capacity ahead of demand through placeholder pods (forescale's own Deployments, see
kube_objects); the node count of a pool for a model is what its pods run on plus pending
placeholders (nodes on their way). Karpenter NodeClaims that failed to launch for lack of
capacity mark the pool insufficient (an empty cache when Karpenter is not installed).
All reads come from one list + watch per kind (kube_cache), shared by every model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from forescale.controller.actuators import kube_objects as ko
from forescale.controller.actuators import kube_targets as kt
from forescale.controller.actuators.kube_world import KubeWorld
from forescale.controller.errors import ActuatorError
from forescale.controller.settings import KubeSettings
from forescale.core.clock import Clock
from forescale.core.model import PoolObservation, PoolSpec
from forescale.core.ports import PoolReplicas, ReplicaCounts

log = logging.getLogger(__name__)
Obj = dict[str, Any]
Seen = list[tuple[kt.Bound, Obj | None]]


class _Kube:
    """What both halves share: the world (API, caches, policies), settings, clock."""

    def __init__(
        self, api: client.ApiClient, settings: KubeSettings, clock: Clock, world: KubeWorld | None = None
    ) -> None:
        self.world = world or KubeWorld(api, settings, clock)
        self._owns_world = world is None
        self.api = api
        self.s = settings
        self.ns = settings.namespace
        self.clock = clock

    async def bound(self, model: str, pool: PoolSpec) -> kt.Bound:
        """The target serving ``pool``, as the last observation of all pools bound it."""
        found = next((b for b in self.world.bound.get(model, ()) if pool.name in b.pools), None)
        return found or kt.bind(model, await self.world.spec(model), [pool], self.ns)[0]

    async def cached(self, b: kt.Bound) -> Obj | None:
        return (await self.world.targets(b.target)).get(b.target.namespace or self.ns, b.target.name)

    async def targets(self, model: str, pools: Sequence[PoolSpec]) -> Seen:
        """Each target of ``model`` with its cached object (None: missing); records problems."""
        w = self.world
        bounds = kt.bind(model, await w.spec(model), pools, self.ns)
        seen: Seen = []
        errors: list[tuple[str, str]] = []  # (error kind, message): the model cannot be actuated
        conflicts: list[str] = []  # reported; that target is left alone
        for b in bounds:
            try:
                obj = await self.cached(b)
            except ActuatorError as exc:
                if not exc.kind.startswith("target-"):
                    raise
                errors.append((exc.kind, f"scale target {b.ref}: {exc}"))
                seen.append((b, None))
                continue
            if obj is None:
                errors.append(("target-missing", kt.missing_message(b)))
            else:
                conflicts += [f"{b.ref} is already scaled by {c}: forescale does not write it"
                              for c in await self.conflicts(b)]  # fmt: skip
            seen.append((b, obj))
        w.bound[model] = bounds
        w.errors[model] = errors
        w.problems[model] = [m for _, m in errors] + conflicts
        return seen

    async def conflicts(self, b: kt.Bound) -> list[str]:
        ns = b.target.namespace or self.ns

        def ref_name(o: Obj) -> str | None:
            return ((o.get("spec") or {}).get("scaleTargetRef") or {}).get("name")

        hpas = (await self.world.hpas(ns)).indexed("target", ref_name, b.target.name)
        keda = (await self.world.scaled_objects(ns)).indexed("target", ref_name, b.target.name)
        return kt.conflicts(b.target, hpas, keda)

    async def shape(self, model: str, pool: PoolSpec) -> kt.Shape:
        """Pods per replica and GPUs per pod of the target serving ``pool``."""
        spec = await self.world.spec(model)
        fallback = spec.gpus_per_replica if spec is not None else self.s.gpus_per_replica
        try:
            obj = await self.cached(await self.bound(model, pool))
        except ActuatorError:  # unknown kind: reported by the observation
            obj = None
        return kt.shape(obj, self.s.gpu_resource, fallback)

    async def close(self) -> None:
        if self._owns_world:
            await self.world.close()


class KubeReplicas(_Kube):
    async def replicas(self, model: str, pools: Sequence[PoolSpec]) -> PoolReplicas:
        """Never raises for a missing target (status reads this too): it counts 0 and is a
        problem of the model; ``KubeNodes.observe`` and ``set_replicas`` raise for it."""
        counts: dict[str, ReplicaCounts] = {}
        for b, obj in await self.targets(model, pools):
            if obj is None:
                continue
            desired, ready = kt.replicas_of(obj)
            if not b.shared:
                counts[b.pools[0]] = ReplicaCounts(desired=desired, ready=ready, starting=desired - ready)
            else:
                counts.update(await self._split(model, b, obj, desired, ready))
        return PoolReplicas({p.name: counts.get(p.name, ReplicaCounts()) for p in pools})

    def target_problems(self, model: str) -> list[str]:
        """What is wrong with the model's targets as last observed (missing, no /scale,
        scaled by an HPA or ScaledObject): shown in /v1/status."""
        return list(self.world.problems.get(model, ()))

    async def _split(
        self, model: str, b: kt.Bound, obj: Obj, desired: int, ready: int
    ) -> dict[str, ReplicaCounts]:
        """One target for several pools: its replicas per pool, from what this controller
        last set per pool when that still adds up, else from where its pods run (pods not
        yet on a node count in the first pool)."""
        wanted = self.world.wanted.get(model, {})
        size = kt.shape(obj, self.s.gpu_resource, 1).pods_per_replica
        placed: dict[str, list[int]] = {p: [0, 0] for p in b.pools}
        nodes = await self.world.nodes()
        pods = (await self.world.pods(b.target.namespace or self.ns)).select(kt.pod_selector(obj))
        for pod in pods:
            host = nodes.get("", (pod.get("spec") or {}).get("nodeName") or "")
            pool = ((host or {}).get("metadata", {}).get("labels") or {}).get(self.s.pool_label)
            if pool in placed:
                placed[pool][0] += 1
                placed[pool][1] += kt.pod_ready(pod)
        by_ready = {p: min(v[1] // size, ready) for p, v in placed.items()}
        if sum(wanted.get(p, 0) for p in b.pools) == desired:
            by_desired = {p: wanted.get(p, 0) for p in b.pools}
        else:
            by_desired = {p: v[0] // size for p, v in placed.items()}
            by_desired[b.pools[0]] += max(0, desired - sum(by_desired.values()))
        self.world.wanted[model] = dict(by_desired)
        return {
            p: ReplicaCounts(desired=n, ready=min(n, by_ready[p]), starting=n - min(n, by_ready[p]))
            for p, n in by_desired.items()
        }

    async def set_replicas(self, model: str, pool: PoolSpec, replicas: int) -> None:
        b = await self.bound(model, pool)
        obj = await self.cached(b)
        if obj is None:
            raise ActuatorError("target-missing", kt.missing_message(b))
        if found := await self.conflicts(b):
            log.warning("%s: %s is scaled by %s; not written", model, b.ref, ", ".join(found))
            return
        want = replicas
        if b.shared:
            wanted = self.world.wanted.setdefault(model, {})
            wanted[pool.name] = replicas
            want = sum(wanted.get(p, 0) for p in b.pools)
        if not self.world.up_to_date(await self.world.scale_path(b.target), kt.replicas_of(obj)[0], want):
            await self.world.write_scale(b.target, want)


class KubeNodes(_Kube):
    def __init__(
        self, api: client.ApiClient, settings: KubeSettings, clock: Clock, world: KubeWorld | None = None
    ) -> None:
        super().__init__(api, settings, clock, world)
        self.sched = client.SchedulingV1Api(api)
        self._last_observed: dict[tuple[str, str], float] = {}
        self._draining: dict[tuple[str, str], set[str]] = {}
        self._priority_class_ok = False

    async def set_nodes(self, model: str, pool: PoolSpec, nodes: int, replicas: int) -> None:
        """Placeholders hold the nodes ``replicas`` replicas will not fill."""
        shape = await self.shape(model, pool)
        needed = ko.nodes_for(replicas, shape.pods_per_replica, shape.gpus_per_pod, pool.gpus_per_node)
        placeholders = max(0, nodes - needed)
        name = ko.placeholder_name(model, pool.name)
        current = (await self.world.placeholders()).get(self.ns, name)
        have = None if current is None else int((current.get("spec") or {}).get("replicas") or 0)
        never_made = have is None and name not in self.world.written
        if self.world.up_to_date(name, have, placeholders) or (never_made and placeholders == 0):
            return
        await self._ensure_priority_class()
        await self._scale_placeholder(name, placeholders, lambda: ko.placeholder_deployment(
            model, pool, self.s, placeholders))  # fmt: skip

    async def _scale_placeholder(self, name: str, replicas: int, body: Any) -> None:
        """forescale's own Deployment: created when missing, else resized through /scale."""
        apps = self.world.apps

        async def op() -> None:
            try:
                scale = await apps.read_namespaced_deployment_scale(name, self.ns)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                created: Any = body()  # dict bodies are sent as they are; 409 if raced: re-read
                await apps.create_namespaced_deployment(self.ns, created)
                return
            if scale.spec.replicas != replicas:
                scale.spec.replicas = replicas
                await apps.replace_namespaced_deployment_scale(name, self.ns, scale)

        await self.world.call(f"scale {name} to {replicas}", op)
        self.world.written[name] = replicas

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

        await self.world.call("create placeholder PriorityClass", op)
        self._priority_class_ok = True

    async def observe(self, model: str, pools: Sequence[PoolSpec], now: float) -> tuple[PoolObservation, ...]:
        seen = await self.targets(model, pools)
        if errors := self.world.errors.get(model):
            raise ActuatorError(errors[0][0], "; ".join(m for _, m in errors))
        nodes = await self.world.nodes()
        pods = (await self.world.pods(self.ns)).select({ko.MODEL_LABEL: ko.label_value(model)})
        for b, obj in seen:
            if obj is not None:
                pods += (await self.world.pods(b.target.namespace or self.ns)).select(kt.pod_selector(obj))
        claims = await self.world.nodeclaims()
        return tuple(self._observe_pool(model, p, nodes.get, pods, claims, now) for p in pools)

    def _observe_pool(
        self, model: str, pool: PoolSpec, node: Any, pods: list[Obj], claims: Any, now: float
    ) -> PoolObservation:
        hosts = sorted({h for p in pods if (h := (p.get("spec") or {}).get("nodeName"))})
        in_pool = [n for h in hosts if (n := node("", h)) is not None
                   and (n["metadata"].get("labels") or {}).get(self.s.pool_label) == pool.name]  # fmt: skip
        states = [ko.node_state(n) for n in in_pool]
        pending_placeholders = sum(
            1 for p in pods
            if (p["metadata"].get("labels") or {}).get(ko.ROLE_LABEL) == "placeholder"
            and p["metadata"]["labels"].get(self.s.pool_label) == pool.name and ko.pod_pending(p)
        )  # fmt: skip
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

        def nodepool(c: Obj) -> str | None:
            return (c["metadata"].get("labels") or {}).get("karpenter.sh/nodepool")

        failed = any(ko.launch_failed(c) for c in claims.indexed("nodepool", nodepool, pool.name))
        return PoolObservation(
            name=pool.name,
            ready_nodes=states.count("ready"),
            starting_nodes=states.count("starting") + pending_placeholders,
            draining_nodes=len(draining),
            insufficient_capacity_at=now if failed else None,
            interruptions=new_notices,
            lead_times_s=tuple(lead),
        )
