"""Kubernetes objects forescale creates, and how it reads nodes and workloads (pure functions on dicts).

- scale targets are the user's (see kube_targets): never created or edited here;
- a placeholder Deployment per model x pool: pause pods of a negative-priority class that
  request a whole node's GPUs, so Karpenter / Cluster Autoscaler bring nodes up ahead of
  demand and real pods preempt them;
- node classification: ready, starting, or draining (interruption signals below);
- names and label values derived from free-text model names, encoded safely.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from typing import Any

from forescale.controller.settings import KubeSettings
from forescale.core.model import PoolSpec

Obj = dict[str, Any]
MODEL_LABEL = "forescale.io/model"
ROLE_LABEL = "forescale.io/role"  # worker | placeholder

# Taints that announce a node is going away: Karpenter v1 and pre-v1, the AWS node
# termination handler (spot ITN, scheduled maintenance), GKE, Cluster Autoscaler.
INTERRUPTION_TAINTS = frozenset({
    "karpenter.sh/disrupted",
    "karpenter.sh/disruption",
    "aws-node-termination-handler/spot-itn",
    "aws-node-termination-handler/scheduled-maintenance",
    "cloud.google.com/impending-node-termination",
    "ToBeDeletedByClusterAutoscaler",
})  # fmt: skip
# Node conditions set by termination handlers / node-problem-detector rules.
INTERRUPTION_CONDITIONS = frozenset({"SpotInterruption", "TerminationNotice", "ImpendingNodeTermination"})


_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def label_value(text: str) -> str:
    """``text`` as a label value: itself when valid, else a readable prefix and a hash of
    the whole (model names are free text: ``meta-llama/Llama-3.1-8B-Instruct``)."""
    if _LABEL_VALUE.match(text):
        return text
    readable = re.sub(r"[^-A-Za-z0-9_.]+", "_", text)[:50].strip("-_.")
    return f"{readable}-{_digest(text)}" if readable else _digest(text)


def dns_name(*parts: str) -> str:
    """Parts joined with ``-`` as a DNS-1123 label (object names): as is when valid, else
    lowercased, cleaned, truncated, with a hash of the original so names never collide."""
    joined = "-".join(parts)
    if _DNS_LABEL.match(joined):
        return joined
    readable = re.sub(r"[^-a-z0-9]+", "-", joined.lower())[:52].strip("-")
    return f"{readable}-{_digest(joined)}" if readable else f"fs-{_digest(joined)}"


def worker_name(model: str, pool: str) -> str:
    """The default scale target of a model in a pool (forescale's own worker manifests)."""
    return dns_name("fs", model, pool)


def placeholder_name(model: str, pool: str) -> str:
    return dns_name("fs-placeholder", model, pool)


def _placement(pool: PoolSpec, s: KubeSettings) -> Obj:
    return {
        "nodeSelector": {s.pool_label: pool.name},
        "tolerations": [
            {"key": s.pool_taint, "operator": "Equal", "value": pool.name, "effect": "NoSchedule"},
            {"key": s.gpu_resource, "operator": "Exists", "effect": "NoSchedule"},
        ],
    }


def _deployment(name: str, labels: dict[str, str], pod_spec: Obj, replicas: int) -> Obj:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def worker_deployment(model: str, pool: PoolSpec, s: KubeSettings) -> Obj:
    """The shape of forescale's own worker Deployment in a pool (deploy/ is checked against
    it). The controller never creates it: the shipped manifests do, and the controller
    scales it as the default target."""
    labels = {MODEL_LABEL: label_value(model), s.pool_label: pool.name, ROLE_LABEL: "worker"}
    gpus = {s.gpu_resource: str(s.gpus_per_replica)} if s.gpus_per_replica else {}
    container = {
        "name": "worker",
        "image": s.worker_image,
        "args": ["worker", "--model", model],
        "resources": {"requests": gpus, "limits": gpus},
    }
    # Spot notice is 2 min on AWS: the worker drains on SIGTERM within this grace period.
    spec = {"containers": [container], "terminationGracePeriodSeconds": 110, **_placement(pool, s)}
    return _deployment(worker_name(model, pool.name), labels, spec, 0)


def placeholder_deployment(model: str, pool: PoolSpec, s: KubeSettings, replicas: int) -> Obj:
    labels = {MODEL_LABEL: label_value(model), s.pool_label: pool.name, ROLE_LABEL: "placeholder"}
    gpus = {s.gpu_resource: str(pool.gpus_per_node)}
    container = {
        "name": "pause",
        "image": s.placeholder_image,
        "resources": {"requests": gpus, "limits": gpus},
    }
    spec = {
        "containers": [container],
        "priorityClassName": s.placeholder_priority_class,
        "terminationGracePeriodSeconds": 0,
        **_placement(pool, s),
    }
    return _deployment(placeholder_name(model, pool.name), labels, spec, replicas)


def priority_class(s: KubeSettings) -> Obj:
    return {
        "metadata": {"name": s.placeholder_priority_class},
        "value": s.placeholder_priority,
        "globalDefault": False,
        "preemptionPolicy": "Never",  # placeholders never evict anyone; they are evicted
        "description": "forescale capacity placeholders: preempted by real pods.",
    }


def pod_gpus(pod_spec: Obj | None, gpu_resource: str) -> int:
    """GPUs one pod of this template takes: requests, else limits (for extended resources
    a limit alone implies the same request), summed over containers."""
    total = 0
    for c in (pod_spec or {}).get("containers") or []:
        res = c.get("resources") or {}
        value = (res.get("requests") or {}).get(gpu_resource, (res.get("limits") or {}).get(gpu_resource, 0))
        total += int(value)
    return total


def nodes_for(replicas: int, pods_per_replica: int, gpus_per_pod: int, gpus_per_node: int) -> int:
    """Nodes ``replicas`` take when each is ``pods_per_replica`` pods of ``gpus_per_pod``
    GPUs (a multi-host replica spans nodes; pods of one GPU each pack onto a node)."""
    if replicas <= 0:
        return 0
    per_node = max(1, gpus_per_node // max(1, gpus_per_pod))
    return math.ceil(replicas * pods_per_replica / per_node)


def parse_time(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _condition(node: Obj, type_: str) -> Obj | None:
    return next(
        (c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None
    )


def node_state(node: Obj) -> str:
    """``draining`` (interruption signal), ``ready``, or ``starting``."""
    taints = {t.get("key") for t in (node.get("spec") or {}).get("taints") or []}
    if taints & INTERRUPTION_TAINTS:
        return "draining"
    for ctype in INTERRUPTION_CONDITIONS:
        cond = _condition(node, ctype)
        if cond is not None and cond.get("status") == "True":
            return "draining"
    ready = _condition(node, "Ready")
    return "ready" if ready is not None and ready.get("status") == "True" else "starting"


def ready_since(node: Obj) -> float | None:
    """When the node last became Ready; its lead time is this minus its creation."""
    ready = _condition(node, "Ready")
    if ready is None or ready.get("status") != "True":
        return None
    return parse_time(ready.get("lastTransitionTime"))


def pod_pending(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase", "Pending") == "Pending" and not (pod.get("spec") or {}).get(
        "nodeName"
    )


def launch_failed(nodeclaim: Obj) -> bool:
    """A Karpenter NodeClaim that could not launch for lack of capacity."""
    cond = _condition(nodeclaim, "Launched")
    if cond is None or cond.get("status") != "False":
        return False
    text = f"{cond.get('reason', '')} {cond.get('message', '')}".lower()
    return "insufficientcapacity" in text.replace(" ", "") or "insufficient capacity" in text
