"""Watch-fed caches: one list + watch per kind (and namespace), shared by every model.

Listing nodes and pods per model per tick costs two requests per model and a full scan
on the API server each time: at a thousand models a tick takes minutes and loads the
server. An ``Informer`` lists a kind once, then follows a watch from the list's
resourceVersion; reads are dictionary lookups. A watch that ends is resumed from the last
resourceVersion seen; ``410 Gone`` (history compacted) relists. A kind the server does
not serve (404: Karpenter or KEDA not installed) is an empty cache, looked at again after
``absent_retry_s``.

The first list runs in the caller (the tick) with the actuator's retries, so a failing API
server is an error of that tick, as before; later watch failures are retried in the
background with backoff and logged. Objects are plain JSON dicts: the typed client models
cost more to build than everything else the tick does.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from forescale.retrying import failure

log = logging.getLogger(__name__)
WATCH_ERRORS = (ApiException, aiohttp.ClientError, TimeoutError, ValueError)
Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)
# (watch, query parameters) -> the raw response (``_preload_content=False``)
Lister = Callable[..., Awaitable[Any]]
IndexFn = Callable[[Obj], str | None]


async def read_json(resp: Any) -> Any:
    """The body of a raw response; a non-2xx status is the ApiException the client raises."""
    body = await resp.read()
    if not 200 <= resp.status <= 299:
        exc = ApiException(status=resp.status, reason=resp.reason)
        exc.body, exc.headers = body.decode(errors="replace"), resp.headers
        resp.release()
        raise exc
    return json.loads(body)


def _key(obj: Obj) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


class Informer:
    """Objects of one kind (in one namespace, or cluster-wide), kept current by a watch."""

    def __init__(
        self, what: str, lister: Lister, *, watch_timeout_s: int = 300, absent_retry_s: float = 300.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:  # fmt: skip
        self.what = what
        self._sleep = sleep  # background: real time, not the tick's clock (tests pass their own)
        self.lister = lister
        self.watch_timeout_s = watch_timeout_s
        self.absent_retry_s = absent_retry_s
        self.objects: dict[Key, Obj] = {}
        self.rv = ""
        self.absent = False  # the server does not serve this kind
        self.listed = False
        self._indexes: dict[str, tuple[IndexFn, dict[str, set[Key]]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._list_lock = asyncio.Lock()

    # ------------------------------------------------------------------ reads
    def get(self, namespace: str, name: str) -> Obj | None:
        return self.objects.get((namespace, name))

    def values(self) -> Iterable[Obj]:
        return self.objects.values()

    def indexed(self, name: str, fn: IndexFn, value: str) -> list[Obj]:
        """Objects whose ``fn`` is ``value``; the index is built once, then kept by events."""
        if name not in self._indexes:
            index: dict[str, set[Key]] = {}
            for key, obj in self.objects.items():
                if (v := fn(obj)) is not None:
                    index.setdefault(v, set()).add(key)
            self._indexes[name] = (fn, index)
        return [self.objects[k] for k in sorted(self._indexes[name][1].get(value, ()))]

    def select(self, match: dict[str, str]) -> list[Obj]:
        """Objects whose labels include ``match`` (equality selector)."""
        if not match:
            return list(self.objects.values())
        first, *rest = sorted(match)

        def label(o: Obj, k: str = first) -> str | None:
            return (o["metadata"].get("labels") or {}).get(k)

        found = self.indexed(f"label:{first}", label, match[first])
        return [o for o in found if all((o["metadata"].get("labels") or {}).get(k) == match[k] for k in rest)]

    # ---------------------------------------------------------------- updates
    def _put(self, obj: Obj) -> None:
        key = _key(obj)
        self._drop(key)
        self.objects[key] = obj
        for fn, index in self._indexes.values():
            if (v := fn(obj)) is not None:
                index.setdefault(v, set()).add(key)

    def _drop(self, key: Key) -> None:
        old = self.objects.pop(key, None)
        if old is None:
            return
        for fn, index in self._indexes.values():
            if (v := fn(old)) is not None and v in index:
                index[v].discard(key)

    def _replace_all(self, items: list[Obj]) -> None:
        self.objects = {}
        for _, index in self._indexes.values():
            index.clear()
        for obj in items:
            self._put(obj)

    # ------------------------------------------------------------- list/watch
    async def list(self) -> None:
        """List everything and remember the resourceVersion to watch from."""
        try:
            body = await read_json(await self.lister(watch=False))
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.absent, self.rv = True, ""
            self._replace_all([])
            self.listed = True
            return
        self.absent = False
        self.rv = str((body.get("metadata") or {}).get("resourceVersion") or "")
        self._replace_all(list(body.get("items") or []))
        self.listed = True

    async def ensure(self, first_list: Callable[[Callable[[], Awaitable[None]]], Awaitable[None]]) -> None:
        """List once (through ``first_list``, the caller's retry wrapper) and start the watch."""
        if not self.listed:
            async with self._list_lock:
                if not self.listed:
                    await first_list(self.list)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._follow(), name=f"watch {self.what}")

    async def _follow(self) -> None:
        """Follow the watch until cancelled. A failed step backs off 1 s doubling to 30 s
        (tenacity), reset by the next step that succeeds: a fresh retrying per step."""
        while True:
            retrying = AsyncRetrying(
                sleep=self._sleep,
                wait=wait_exponential(multiplier=1.0, max=30.0),
                retry=retry_if_exception_type(WATCH_ERRORS),  # never CancelledError: close() ends it
                before_sleep=self._log_failure,
            )
            await retrying(self._step)

    async def _step(self) -> None:
        if self.absent:
            await self._sleep(self.absent_retry_s)
            await self.list()
        elif await self._watch():
            await self.list()  # 410 Gone: start again from a fresh list

    def _log_failure(self, state: RetryCallState) -> None:
        exc, pause = failure(state)
        log.warning("watch %s: %s; again in %.1fs", self.what, exc, pause)

    async def _watch(self) -> bool:
        """Follow events until the server ends the watch; True when it asks for a relist."""
        resp = await self.lister(
            watch=True, resource_version=self.rv, timeout_seconds=self.watch_timeout_s,
            allow_watch_bookmarks=True,
        )  # fmt: skip
        if resp.status != 200:
            await read_json(resp)  # raises
        try:
            async for line in _lines(resp.content):
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        return True
                    raise ApiException(status=obj.get("code"), reason=obj.get("reason"))
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                if kind in ("ADDED", "MODIFIED"):
                    self._put(obj)
                elif kind == "DELETED":
                    self._drop(_key(obj))
                if rv:
                    self.rv = str(rv)
        finally:
            resp.release()
        return False

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


async def _lines(content: Any) -> AsyncIterator[bytes]:
    """Newline-delimited events of any size (``readline`` refuses lines over 64 KiB, and
    an object with large managedFields or annotations can be bigger)."""
    buffer = b""
    async for chunk in content.iter_any():
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer


class KubeCache:
    """The informers of one controller, by a key naming kind and namespace."""

    def __init__(self) -> None:
        self.informers: dict[str, Informer] = {}

    def informer(self, key: str, lister: Lister) -> Informer:
        if key not in self.informers:
            self.informers[key] = Informer(key, lister)
        return self.informers[key]

    async def close(self) -> None:
        await asyncio.gather(*(i.close() for i in self.informers.values()))
