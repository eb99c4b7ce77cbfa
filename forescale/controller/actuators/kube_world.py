"""What the Kubernetes actuator's two halves share: the API handles, the watch-fed caches,
the kinds of scale targets (discovery), the policies' targets, and target problems.

Reads come from one informer per kind and namespace (kube_cache), never a list per model
per tick. Writes go through ``/scale`` with the resourceVersion read (409 if someone wrote
in between: ``with_retry`` re-reads). Targets of any kind are reached by REST path
(``/apis/{group}/{version}/namespaces/{ns}/{plural}``), the plural found through discovery
once per group/version, so a custom resource with ``/scale`` needs no code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from forescale.controller.actuators import kube_objects as ko
from forescale.controller.actuators.kube_cache import Informer, KubeCache, Lister, read_json
from forescale.controller.actuators.kube_retry import RetryPolicy, with_retry
from forescale.controller.actuators.kube_targets import Bound
from forescale.controller.errors import ActuatorError
from forescale.controller.settings import KubeSettings
from forescale.controller.store import Store
from forescale.core.clock import Clock
from forescale.core.model import PolicySpec
from forescale.core.targets import ScaleTarget

Obj = dict[str, Any]
PolicyLookup = Callable[[], Awaitable[Iterable[PolicySpec]]]
_QUERY = {"resource_version": "resourceVersion", "timeout_seconds": "timeoutSeconds",
          "allow_watch_bookmarks": "allowWatchBookmarks", "label_selector": "labelSelector"}  # fmt: skip


def store_policies(store: Store) -> PolicyLookup:
    """The policies as the admin API stored them (the targets of each model come from there)."""

    async def lookup() -> list[PolicySpec]:
        return [v.value for v in await store.policies.list()]

    return lookup


@dataclass(frozen=True)
class KindInfo:
    base: str  # /apis/{group}/{version} or /api/v1
    plural: str


# Built-in kinds need no discovery request; everything else is looked up once.
BUILTIN = {
    ("apps/v1", "Deployment"): KindInfo("/apis/apps/v1", "deployments"),
    ("apps/v1", "StatefulSet"): KindInfo("/apis/apps/v1", "statefulsets"),
    ("apps/v1", "ReplicaSet"): KindInfo("/apis/apps/v1", "replicasets"),
}


class KubeWorld:
    def __init__(
        self,
        api: client.ApiClient,
        settings: KubeSettings,
        clock: Clock,
        policies: PolicyLookup | None = None,
        policy_refresh_s: float = 5.0,
    ) -> None:
        self.api = api
        self.s = settings
        self.ns = settings.namespace
        self.clock = clock
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.autoscaling = client.AutoscalingV2Api(api)
        self.retry = RetryPolicy(settings.retry_attempts, settings.retry_base_s, settings.retry_max_s)
        self.cache = KubeCache()
        self.policies = policies
        self.policy_refresh_s = policy_refresh_s
        self._specs: dict[str, PolicySpec] = {}
        self._specs_at: float | None = None
        self._specs_lock = asyncio.Lock()  # one re-read for the 32 observations that find it stale
        self._kinds: dict[tuple[str, str], KindInfo] = dict(BUILTIN)
        self.problems: dict[str, list[str]] = {}  # model -> target problems of its last observation
        self.errors: dict[str, list[tuple[str, str]]] = {}  # model -> (kind, message) blocking it
        self.bound: dict[str, list[Bound]] = {}  # model -> its targets over all its pools, last seen
        self.wanted: dict[str, dict[str, int]] = {}  # model -> replicas per pool of a shared target
        # What this controller last wrote per object: the cache may not have seen that write
        # yet, so "the cache shows the count wanted" skips a write only when it agrees.
        self.written: dict[str, int] = {}

    async def call(self, what: str, op: Callable[[], Awaitable[Any]]) -> Any:
        return await with_retry(what, op, self.clock, self.retry)

    # --------------------------------------------------------------- policies
    async def spec(self, model: str) -> PolicySpec | None:
        """The policy of ``model`` as last read (all policies re-read at most every few seconds)."""
        if self.policies is None:
            return None
        if self._stale(self.clock.now()):
            async with self._specs_lock:
                now = self.clock.now()
                if self._stale(now):  # not re-read while this one waited for the lock
                    self._specs = {p.model: p for p in await self.policies()}
                    self._specs_at = now
        return self._specs.get(model)

    def _stale(self, now: float) -> bool:
        return self._specs_at is None or now - self._specs_at >= self.policy_refresh_s

    # -------------------------------------------------------------- informers
    async def _ready(self, key: str, lister: Lister) -> Informer:
        inf = self.cache.informer(key, lister)

        async def first(list_: Callable[[], Awaitable[None]]) -> None:
            await self.call(f"list {key}", list_)

        await inf.ensure(first)
        return inf

    async def nodes(self) -> Informer:
        return await self._ready("nodes", lambda watch, **kw: self.core.list_node(
            watch=watch, label_selector=self.s.pool_label, _preload_content=False, **kw))  # fmt: skip

    async def pods(self, namespace: str) -> Informer:
        return await self._ready(f"pods/{namespace}", lambda watch, **kw: self.core.list_namespaced_pod(
            namespace, watch=watch, _preload_content=False, **kw))  # fmt: skip

    async def placeholders(self) -> Informer:
        selector = f"{ko.ROLE_LABEL}=placeholder"
        return await self._ready("placeholders", lambda watch, **kw: self.apps.list_namespaced_deployment(
            self.ns, watch=watch, label_selector=selector, _preload_content=False, **kw))  # fmt: skip

    async def nodeclaims(self) -> Informer:
        return await self._ready("nodeclaims", lambda watch, **kw: self.custom.list_cluster_custom_object(
            "karpenter.sh", "v1", "nodeclaims", watch=watch, _preload_content=False, **kw))  # fmt: skip

    async def hpas(self, namespace: str) -> Informer:
        return await self._ready(f"hpas/{namespace}", lambda watch, **kw: (
            self.autoscaling.list_namespaced_horizontal_pod_autoscaler(
                namespace, watch=watch, _preload_content=False, **kw)))  # fmt: skip

    async def scaled_objects(self, namespace: str) -> Informer:
        path = f"/apis/keda.sh/v1alpha1/namespaces/{namespace}/scaledobjects"
        return await self._ready(f"scaledobjects/{namespace}", self._raw_lister(path))

    async def targets(self, target: ScaleTarget) -> Informer:
        """Objects of the target's kind in its namespace (one informer per kind and namespace)."""
        info = await self.kind(target)
        path = f"{info.base}/namespaces/{target.namespace or self.ns}/{info.plural}"
        return await self._ready(path, self._raw_lister(path))

    def _raw_lister(self, path: str) -> Lister:
        def lister(watch: bool, **kw: Any) -> Awaitable[Any]:
            query = [(_QUERY[k], str(v).lower() if isinstance(v, bool) else v)
                     for k, v in kw.items() if v not in (None, "")]  # fmt: skip
            if watch:
                query.append(("watch", "true"))
            return self.raw("GET", path, query=query)

        return lister

    def raw(
        self, method: str, path: str, query: list[tuple[str, Any]] | None = None, body: Any = None
    ) -> Any:
        """A REST call by path, answering the raw response (for kinds the client has no class for)."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        return self.api.call_api(
            path, method, query_params=query or [], header_params=headers, body=body,
            auth_settings=["BearerToken"], _preload_content=False,
        )  # fmt: skip

    # ---------------------------------------------------------- kinds, /scale
    async def kind(self, target: ScaleTarget) -> KindInfo:
        key = (target.api_version, target.kind)
        if key not in self._kinds:
            base = f"/apis/{target.api_version}" if "/" in target.api_version else "/api/v1"

            async def op() -> Any:
                try:
                    return await read_json(await self.raw("GET", base))
                except ApiException as exc:
                    if exc.status == 404:
                        return {"resources": []}
                    raise

            found = await self.call(f"discover {target.api_version}", op)
            resources = found.get("resources") or []
            names = {r.get("name") for r in resources}
            plural = next(
                (r["name"] for r in resources if r.get("kind") == target.kind and "/" not in r["name"]),
                None,
            )
            if plural is None:
                raise ActuatorError(
                    "target-kind", f"the API server serves no {target.kind} in {target.api_version}"
                )
            if f"{plural}/scale" not in names:
                raise ActuatorError(
                    "target-no-scale", f"{target.kind} ({target.api_version}) has no /scale subresource"
                )
            self._kinds[key] = KindInfo(base, plural)
        return self._kinds[key]

    async def write_scale(self, target: ScaleTarget, replicas: int) -> None:
        """Set ``spec.replicas`` of the target's Scale, carrying the resourceVersion read."""
        path = await self.scale_path(target)

        async def op() -> None:
            scale = await read_json(await self.raw("GET", path))
            if (scale.get("spec") or {}).get("replicas") == replicas:
                return
            scale.setdefault("spec", {})["replicas"] = replicas
            await read_json(await self.raw("PUT", path, body=scale))

        await self.call(f"scale {target.ref(self.ns)} to {replicas}", op)
        self.written[path] = replicas

    def up_to_date(self, key: str, cached: int | None, want: int) -> bool:
        """True when the cache shows ``want`` and our own last write (if any) agrees."""
        return cached == want and self.written.get(key, want) == want

    async def scale_path(self, target: ScaleTarget) -> str:
        info = await self.kind(target)
        return f"{info.base}/namespaces/{target.namespace or self.ns}/{info.plural}/{target.name}/scale"

    async def close(self) -> None:
        await self.cache.close()
