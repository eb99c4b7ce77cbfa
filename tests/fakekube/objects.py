"""The fake API server's object store: resourceVersion, events for watches, kinds."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import itertools
import uuid
from dataclasses import dataclass
from typing import Any

from tests.fakekube.selectors import parse_selector

Obj = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    custom: bool = False  # custom resources refuse strategic merge patches (415)
    scale: bool = False  # has a /scale subresource (spec.replicas)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


KINDS = {
    (k.group, k.version, k.plural): k
    for k in (
        Kind("", "v1", "pods", "Pod", True),
        Kind("", "v1", "nodes", "Node", False),
        Kind("apps", "v1", "deployments", "Deployment", True, scale=True),
        Kind("apps", "v1", "statefulsets", "StatefulSet", True, scale=True),
        # LeaderWorkerSet (multi-host replicas): a custom resource with /scale; a replica
        # is a group of spec.leaderWorkerTemplate.size pods.
        Kind("leaderworkerset.x-k8s.io", "v1", "leaderworkersets", "LeaderWorkerSet", True, True, True),
        Kind("argoproj.io", "v1alpha1", "rollouts", "Rollout", True, custom=True, scale=True),
        Kind("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True),
        Kind("keda.sh", "v1alpha1", "scaledobjects", "ScaledObject", True, custom=True),
        Kind("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False),
        Kind("coordination.k8s.io", "v1", "leases", "Lease", True),
        Kind("karpenter.sh", "v1", "nodeclaims", "NodeClaim", False, custom=True),
    )
}


class ApiError(Exception):
    """Becomes a ``Status`` response with this code and reason."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def status_body(code: int, reason: str, message: str) -> Obj:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}  # fmt: skip


def timestamp(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Event:
    rv: int
    kind: Kind
    type: str  # ADDED | MODIFIED | DELETED
    obj: Obj


class ObjectStore:
    """Objects by (kind, namespace, name); a global resourceVersion; a bounded event log."""

    def __init__(self, now: Any, history: int = 1000) -> None:
        self.now = now  # () -> epoch seconds, for creationTimestamp
        self.objects: dict[tuple[Kind, str, str], Obj] = {}
        self.rv = itertools.count(1)
        self.last_rv = 0
        self.events: list[Event] = []
        self.history = history
        self.changed = asyncio.Condition()

    def compact(self) -> None:
        """Forget the event history (watches from an older resourceVersion get 410 Gone)."""
        self.events.clear()

    def oldest_rv(self) -> int:
        return self.events[0].rv if self.events else self.last_rv

    def _bump(self, kind: Kind, type_: str, obj: Obj) -> Obj:
        self.last_rv = next(self.rv)
        obj["metadata"]["resourceVersion"] = str(self.last_rv)
        self.events.append(Event(self.last_rv, kind, type_, copy.deepcopy(obj)))
        del self.events[: -self.history]
        self._notify()
        return copy.deepcopy(obj)

    def _notify(self) -> None:
        async def wake() -> None:
            async with self.changed:
                self.changed.notify_all()

        with contextlib.suppress(RuntimeError):  # no loop (set-up from sync code): nobody watches
            asyncio.get_running_loop().create_task(wake())

    def get(self, kind: Kind, ns: str, name: str) -> Obj:
        obj = self.objects.get((kind, ns, name))
        if obj is None:
            raise ApiError(404, "NotFound", f'{kind.plural} "{name}" not found')
        return copy.deepcopy(obj)

    def list(self, kind: Kind, ns: str | None, selector: str | None) -> list[Obj]:
        match = parse_selector(selector)
        return [
            copy.deepcopy(o) for (k, n, _), o in sorted(self.objects.items(), key=lambda kv: kv[0][1:])
            if k == kind and (ns is None or n == ns) and match(o["metadata"].get("labels") or {})
        ]  # fmt: skip

    def create(self, kind: Kind, ns: str, obj: Obj, *, server_side: bool = False) -> Obj:
        """``server_side``: a kubelet/Karpenter stand-in may set creationTimestamp itself."""
        meta = obj.setdefault("metadata", {})
        created = meta.get("creationTimestamp") if server_side else None
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name:
            raise ApiError(422, "Invalid", "metadata.name: Required value")
        if (kind, ns, name) in self.objects:
            raise ApiError(409, "AlreadyExists", f'{kind.plural} "{name}" already exists')
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=created or timestamp(self.now()), generation=1)
        if kind.namespaced:
            meta["namespace"] = ns
        self.objects[(kind, ns, name)] = obj
        return self._bump(kind, "ADDED", obj)

    def replace(self, kind: Kind, ns: str, name: str, obj: Obj, *, check_rv: bool = True) -> Obj:
        """PUT semantics: a resourceVersion in the body must match (409 otherwise)."""
        current = self.get(kind, ns, name)
        sent_rv = (obj.get("metadata") or {}).get("resourceVersion")
        if check_rv and sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {kind.plural} "{name}": '
                "the object has been modified; please apply your changes to the latest version",
            )
        meta = obj.setdefault("metadata", {})
        for keep in ("uid", "creationTimestamp", "namespace", "name"):
            if keep in current["metadata"]:
                meta[keep] = current["metadata"][keep]
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        if obj.get("spec") != current.get("spec"):
            meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
        self.objects[(kind, ns, name)] = obj
        return self._bump(kind, "MODIFIED", obj)

    def delete(self, kind: Kind, ns: str, name: str) -> Obj:
        obj = self.objects.pop((kind, ns, name), None)
        if obj is None:
            raise ApiError(404, "NotFound", f'{kind.plural} "{name}" not found')
        return self._bump(kind, "DELETED", obj)

    def events_after(self, kind: Kind, ns: str | None, rv: int, selector: str | None) -> list[Event]:
        match = parse_selector(selector)
        return [
            e for e in self.events
            if e.rv > rv and e.kind == kind and (ns is None or e.obj["metadata"].get("namespace") == ns)
            and match(e.obj["metadata"].get("labels") or {})
        ]  # fmt: skip
