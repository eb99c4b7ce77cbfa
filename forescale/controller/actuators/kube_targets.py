"""Scale targets on Kubernetes, as pure functions on JSON dicts.

- which target serves which pool of a model (``bind``): the policy's ``targets``, else
  forescale's own ``fs-{model}-{pool}`` Deployment per pool (never created by the
  controller: a missing one is an error, like any other missing target);
- the shape of a replica (``Shape``): pods per replica (a LeaderWorkerSet replica is a
  group of ``spec.leaderWorkerTemplate.size`` pods) and GPUs per pod, from requests or
  limits, so placeholders and node counts are right for tensor/pipeline-parallel replicas;
- the pods of a target (its selector) and who else scales it (``conflicts``: an HPA or a
  KEDA ScaledObject on the same object; forescale then reports and does not write).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from forescale.controller.actuators import kube_objects as ko
from forescale.core.model import PolicySpec, PoolSpec
from forescale.core.targets import ScaleTarget

Obj = dict[str, Any]
LWS_GROUP = "leaderworkerset.x-k8s.io"
LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"


@dataclass(frozen=True)
class Bound:
    """A target with its namespace filled in, and the pools whose replicas it carries."""

    target: ScaleTarget
    pools: tuple[str, ...]

    @property
    def shared(self) -> bool:
        """One target for several pools: its replicas are the sum over them."""
        return len(self.pools) > 1 or self.target.pool is None

    @property
    def ref(self) -> str:
        return self.target.ref("")


@dataclass(frozen=True)
class Shape:
    pods_per_replica: int = 1
    gpus_per_pod: int = 1


def bind(model: str, spec: PolicySpec | None, pools: Sequence[PoolSpec], namespace: str) -> list[Bound]:
    """The targets of ``model`` over its allowed ``pools`` (policy order)."""
    names = tuple(p.name for p in pools)
    named = spec.targets if spec is not None else ()
    filled = [t if t.namespace else t.model_copy(update={"namespace": namespace}) for t in named]
    if len(filled) == 1 and filled[0].pool is None:
        return [Bound(filled[0], names)]
    by_pool = {t.pool: t for t in filled}
    out = []
    for pool in names:
        target = by_pool.get(pool) or ScaleTarget(
            api_version="apps/v1", kind="Deployment", name=ko.worker_name(model, pool), namespace=namespace,
            pool=pool,
        )  # fmt: skip
        out.append(Bound(target, (pool,)))
    return out


def missing_message(b: Bound) -> str:
    return (
        f"scale target {b.ref} not found: forescale never creates workloads; create it, or name "
        "an existing object with a /scale subresource in the policy's `targets`"
    )


def replicas_of(obj: Obj) -> tuple[int, int]:
    """(desired, ready) replicas of a workload with /scale: spec.replicas, status.readyReplicas."""
    desired = int((obj.get("spec") or {}).get("replicas") or 0)
    status = obj.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    return desired, min(desired, ready)


def _pod_specs(obj: Obj) -> list[Obj]:
    spec = obj.get("spec") or {}
    lwt = spec.get("leaderWorkerTemplate")
    if isinstance(lwt, dict):
        templates = [lwt.get("workerTemplate"), lwt.get("leaderTemplate")]
    else:
        templates = [spec.get("template")]
    return [(t.get("spec") or {}) for t in templates if isinstance(t, dict)]


def shape(obj: Obj | None, gpu_resource: str, fallback_gpus: int) -> Shape:
    """Pods per replica and GPUs per pod, read from the object's pod template(s)."""
    if obj is None:
        return Shape(1, fallback_gpus)
    lwt = (obj.get("spec") or {}).get("leaderWorkerTemplate")
    size = int(lwt.get("size") or 1) if isinstance(lwt, dict) else 1
    gpus = max((ko.pod_gpus(s, gpu_resource) for s in _pod_specs(obj)), default=0)
    return Shape(max(1, size), gpus or fallback_gpus)


def pod_selector(obj: Obj) -> dict[str, str]:
    """Equality labels of the target's pods: spec.selector.matchLabels, the LWS name label,
    or the equality terms of status.selector (the /scale labelSelectorPath of most CRs)."""
    if obj.get("kind") == "LeaderWorkerSet" or str(obj.get("apiVersion", "")).startswith(LWS_GROUP):
        return {LWS_NAME_LABEL: obj["metadata"]["name"]}
    match = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels")
    if isinstance(match, dict) and match:
        return {str(k): str(v) for k, v in match.items()}
    text = (obj.get("status") or {}).get("selector")
    out: dict[str, str] = {}
    for term in str(text or "").split(","):
        if "=" in term and "!=" not in term:
            k, v = term.replace("==", "=").split("=", 1)
            out[k.strip()] = v.strip()
    return out


def pod_ready(pod: Obj) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


def _refers(ref: Obj, target: ScaleTarget, default_kind: str = "") -> bool:
    if ref.get("name") != target.name or (ref.get("kind") or default_kind) != target.kind:
        return False
    api = ref.get("apiVersion")
    return api is None or str(api).split("/")[0] == target.api_version.split("/")[0]


def conflicts(target: ScaleTarget, hpas: Iterable[Obj], scaled_objects: Iterable[Obj]) -> list[str]:
    """HPAs and KEDA ScaledObjects already scaling ``target`` (same namespace by construction)."""
    found = [
        f"HorizontalPodAutoscaler {h['metadata']['name']}"
        for h in hpas
        if _refers((h.get("spec") or {}).get("scaleTargetRef") or {}, target)
    ]
    found += [
        f"ScaledObject {s['metadata']['name']}"
        for s in scaled_objects
        if _refers((s.get("spec") or {}).get("scaleTargetRef") or {}, target, "Deployment")
    ]
    return found
