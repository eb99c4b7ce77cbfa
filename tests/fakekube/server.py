"""An in-repo fake Kubernetes API server (aiohttp), for testing with the REAL client.

What it keeps like the real one: resourceVersion (409 Conflict on stale PUT/PATCH
preconditions), label selectors, the Deployment ``/scale`` subresource (autoscaling/v1
Scale), list + watch (``ERROR`` event with 410 Gone for a resourceVersion older than the
kept history; ``BOOKMARK`` events at every change when asked, so tests can wait until a
watch-fed cache has seen everything: ``settle``), and patch content types: JSON patch
and merge patch everywhere, strategic merge for built-in kinds only, anything else 415.

What it adds for tests: ``inject()`` faults (a status such as 429 with Retry-After or
500, a delay, a connection reset) on matching requests, a log of every request, and
direct server-side edits (``put``) standing in for kubelet, Karpenter or a human.

Kinds with ``/scale`` (Deployments, StatefulSets, the LeaderWorkerSet-like custom
resource): status follows spec at once (``status.replicas`` = spec, ``readyReplicas``
capped by ``ready_limit[name]``), standing in for their controllers. Discovery
(``GET /api/v1``, ``GET /apis/{group}/{version}``) lists each kind and its ``/scale``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from forescale.devstack.ports import free_port
from tests.fakekube.objects import KINDS, ApiError, Kind, Obj, ObjectStore, status_body
from tests.fakekube.patches import STRATEGIC, PatchError, apply_patch


@dataclass
class Fault:
    status: int = 0
    retry_after: float | None = None
    delay_s: float = 0.0
    reset: bool = False
    method: str | None = None
    path: str | None = None  # substring of the request path
    query: str | None = None  # substring of the query string (e.g. "watch=true")
    times: int = 1
    action: Callable[[], object] | None = None  # runs before the request is handled (a racing writer)

    def matches(self, request: web.Request) -> bool:
        return (
            (self.method is None or request.method == self.method)
            and (self.path is None or self.path in request.path)
            and (self.query is None or self.query in request.query_string)
        )


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    content_type: str
    status: int
    at: float  # monotonic, for measuring retry spacing in tests


class FakeKube:
    def __init__(self, now: Callable[[], float] = time.time, history: int = 1000) -> None:
        self.store = ObjectStore(now, history)
        self.faults: list[Fault] = []
        self.requests: list[Seen] = []
        self.started = 0  # requests received, counted on arrival (a watch is logged when it ends)
        self.ready_limit: dict[str, int] = {}
        self.watch_timeout_s = 30.0
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---------------------------------------------------------------- test knobs
    def inject(self, **fault: Any) -> Fault:
        f = Fault(**fault)
        self.faults.append(f)
        return f

    def put(self, plural: str, obj: Obj, group: str = "", version: str = "v1", ns: str = "") -> Obj:
        """Create or replace server-side (no preconditions), as a kubelet or Karpenter would."""
        kind = KINDS[(group, version, plural)]
        name = obj["metadata"]["name"]
        ns = ns or obj["metadata"].get("namespace", "default") if kind.namespaced else ""
        if (kind, ns, name) in self.store.objects:
            return self.store.replace(kind, ns, name, obj, check_rv=False)
        return self.store.create(kind, ns, obj, server_side=True)

    async def settle(self, informers: Iterable[Any], timeout_s: float = 10.0) -> None:
        """Wait until every watch-fed cache (``kube_cache.Informer``) has seen the latest write."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not all(i.absent or (i.rv and int(i.rv) >= self.store.last_rv) for i in informers):
            if loop.time() > deadline:
                raise TimeoutError("caches did not catch up with the fake API server")
            await asyncio.sleep(0.005)

    def objects(self, plural: str, group: str = "", version: str = "v1") -> list[Obj]:
        return self.store.list(KINDS[(group, version, plural)], None, None)

    # ------------------------------------------------------------------ serving
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._faults_mw])
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def start(self) -> str:
        self.port = free_port()
        self._runner = web.AppRunner(self.app(), handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self.url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _faults_mw(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.started += 1
        fault = next((f for f in self.faults if f.times > 0 and f.matches(request)), None)
        resp: web.StreamResponse
        if fault is not None:
            fault.times -= 1
            if fault.action is not None:
                fault.action()
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            if fault.reset and request.transport is not None:
                request.transport.abort()  # the client sees a dropped connection
        if fault is not None and fault.status:
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            reason = {429: "TooManyRequests", 500: "InternalError", 409: "Conflict"}.get(
                fault.status, "Injected"
            )
            resp = _status(fault.status, reason, "injected fault", headers)
        else:
            resp = await handler(request)
        ctype = request.headers.get("Content-Type", "")
        self.requests.append(Seen(request.method, request.path, ctype, resp.status, time.monotonic()))
        return resp

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            found = _discovery(request.path)
            if found is not None and request.method == "GET":
                return web.json_response(found)
            kind, ns, name, sub = _route(request.path)
            return await self._dispatch(request, kind, ns, name, sub)
        except ApiError as exc:
            return _status(exc.code, exc.reason, exc.message)

    async def _dispatch(
        self, request: web.Request, kind: Kind, ns: str, name: str | None, sub: str | None
    ) -> web.StreamResponse:
        q = request.query
        if name is None and request.method == "GET":
            lns = ns if kind.namespaced and ns else None
            if q.get("watch", "").lower() in ("true", "1"):
                return await self._watch(request, kind, lns)
            items = self.store.list(kind, lns, q.get("labelSelector"))
            return web.json_response({"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
                                      "metadata": {"resourceVersion": str(self.store.last_rv)},
                                      "items": items})  # fmt: skip
        if name is None and request.method == "POST":
            obj = self._with_status(kind, await _body(request))
            return web.json_response(self.store.create(kind, ns, obj), status=201)
        if name is None:
            raise ApiError(405, "MethodNotAllowed", f"{request.method} on a collection")
        if sub == "scale":
            return await self._scale(request, kind, ns, name)
        if sub is not None:
            raise ApiError(404, "NotFound", f"subresource {sub}")
        return await self._item(request, kind, ns, name)

    async def _item(self, request: web.Request, kind: Kind, ns: str, name: str) -> web.StreamResponse:
        if request.method == "GET":
            return web.json_response(self.store.get(kind, ns, name))
        if request.method == "DELETE":
            return web.json_response(self.store.delete(kind, ns, name))
        if request.method == "PUT":
            obj = self._with_status(kind, await _body(request))
            return web.json_response(self.store.replace(kind, ns, name, obj))
        if request.method == "PATCH":
            current = self.store.get(kind, ns, name)
            patched = _patched(request, kind, current, await _body(request))
            return web.json_response(self.store.replace(kind, ns, name, self._with_status(kind, patched)))
        raise ApiError(405, "MethodNotAllowed", request.method)

    async def _scale(self, request: web.Request, kind: Kind, ns: str, name: str) -> web.StreamResponse:
        if not kind.scale:
            raise ApiError(404, "NotFound", f"{kind.plural} have no scale subresource")
        dep = self.store.get(kind, ns, name)
        if request.method in ("PUT", "PATCH"):
            body = await _body(request)
            scale = _scale_of(dep)
            new = body if request.method == "PUT" else _patched(request, kind, scale, body)
            replicas = (new.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise ApiError(422, "Invalid", "spec.replicas: must be a non-negative integer")
            dep["spec"]["replicas"] = replicas
            dep["metadata"]["resourceVersion"] = (new.get("metadata") or {}).get("resourceVersion")
            dep = self.store.replace(kind, ns, name, self._with_status(kind, dep))
        elif request.method != "GET":
            raise ApiError(405, "MethodNotAllowed", request.method)
        return web.json_response(_scale_of(dep))

    def _with_status(self, kind: Kind, obj: Obj) -> Obj:
        """Stand-in for the workload controllers: status follows spec at once."""
        if kind.scale:
            want = int((obj.get("spec") or {}).get("replicas", 1))
            obj.setdefault("spec", {})["replicas"] = want
            ready = min(want, self.ready_limit.get(obj["metadata"]["name"], want))
            gen = obj["metadata"].get("generation", 1)
            obj["status"] = {"replicas": want, "readyReplicas": ready, "availableReplicas": ready,
                             "updatedReplicas": want, "observedGeneration": gen}  # fmt: skip
        return obj

    async def _watch(self, request: web.Request, kind: Kind, ns: str | None) -> web.StreamResponse:
        q = request.query
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        selector = q.get("labelSelector")
        since = q.get("resourceVersion")
        if since not in (None, "", "0") and _too_old(self.store, int(since)):
            gone = status_body(
                410, "Expired", f"too old resource version: {since} ({self.store.oldest_rv()})"
            )
            await resp.write(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
            return resp
        last = self.store.last_rv
        if since in (None, "", "0"):
            for obj in self.store.list(kind, ns, selector):
                await resp.write(json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n")
        else:
            last = int(since)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(q.get("timeoutSeconds", self.watch_timeout_s))
        bookmarks = q.get("allowWatchBookmarks", "").lower() == "true"
        while True:
            upto = self.store.last_rv
            for e in self.store.events_after(kind, ns, last, selector):
                if e.rv <= upto:
                    await resp.write(json.dumps({"type": e.type, "object": e.obj}).encode() + b"\n")
                    last = e.rv
            if bookmarks and last < upto:  # at every change (a real server: about once a minute)
                mark = {
                    "kind": kind.kind,
                    "apiVersion": kind.api_version,
                    "metadata": {"resourceVersion": str(upto)},
                }
                await resp.write(json.dumps({"type": "BOOKMARK", "object": mark}).encode() + b"\n")
                last = upto
            remaining = deadline - loop.time()
            if remaining <= 0:
                return resp
            async with self.store.changed:
                if (
                    self.store.last_rv == upto
                ):  # a write during our writes above: no wait (its wake-up passed)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.store.changed.wait(), remaining)


def _discovery(path: str) -> Obj | None:
    """An APIResourceList for ``/api/v1`` or ``/apis/{group}/{version}``, else None."""
    parts = [p for p in path.split("/") if p]
    if parts == ["api", "v1"]:
        group, version = "", "v1"
    elif len(parts) == 3 and parts[0] == "apis":
        group, version = parts[1], parts[2]
    else:
        return None
    kinds = [k for k in KINDS.values() if (k.group, k.version) == (group, version)]
    if not kinds:
        raise ApiError(404, "NotFound", f"no API group {path}")
    resources = []
    for k in kinds:
        resources.append(
            {
                "name": k.plural,
                "kind": k.kind,
                "namespaced": k.namespaced,
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
            }
        )
        if k.scale:
            resources.append(
                {
                    "name": f"{k.plural}/scale",
                    "kind": "Scale",
                    "group": "autoscaling",
                    "version": "v1",
                    "namespaced": True,
                    "verbs": ["get", "update", "patch"],
                }
            )
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


def _too_old(store: ObjectStore, since: int) -> bool:
    if store.events:
        return since < store.events[0].rv - 1
    return since < store.last_rv


def _route(path: str) -> tuple[Kind, str, str | None, str | None]:
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise ApiError(404, "NotFound", f"no route for {path}")
    ns = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        ns, rest = rest[1], rest[2:]
    if not rest or (group, version, rest[0]) not in KINDS:
        raise ApiError(404, "NotFound", f"unknown resource in {path}")
    kind = KINDS[(group, version, rest[0])]
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    return kind, ns, name, sub


def _patched(request: web.Request, kind: Kind, current: Obj, patch: Any) -> Obj:
    ctype = request.content_type
    if ctype == STRATEGIC and kind.custom:
        raise ApiError(415, "UnsupportedMediaType", f"strategic merge patch is not supported for {kind.kind}")
    sent_rv = (patch.get("metadata") or {}).get("resourceVersion") if isinstance(patch, dict) else None
    if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
        raise ApiError(
            409, "Conflict", "the object has been modified; please apply your changes to the latest version"
        )
    try:
        return apply_patch(ctype, current, patch)
    except PatchError as exc:
        if "unsupported patch type" in str(exc):
            raise ApiError(415, "UnsupportedMediaType", str(exc)) from exc
        raise ApiError(422, "Invalid", str(exc)) from exc


def _scale_of(dep: Obj) -> Obj:
    meta = dep["metadata"]
    labels = (dep["spec"].get("selector") or {}).get("matchLabels") or {}
    if dep.get("kind") == "LeaderWorkerSet":  # LWS labels its pods with its name
        labels = {"leaderworkerset.sigs.k8s.io/name": meta["name"]}
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion")},
        "spec": {"replicas": dep["spec"].get("replicas", 0)},
        "status": {"replicas": dep.get("status", {}).get("replicas", 0),
                   "selector": ",".join(f"{k}={v}" for k, v in labels.items())},
    }  # fmt: skip


async def _body(request: web.Request) -> Any:
    if request.method in ("POST", "PUT") and request.content_type != "application/json":
        raise ApiError(415, "UnsupportedMediaType", f"{request.method} takes application/json")
    try:
        return json.loads(await request.text())
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"body is not JSON: {exc}") from exc


def _status(code: int, reason: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(status_body(code, reason, message), status=code, headers=headers)
