"""Admission of concurrent requests in one Redis round trip.

Every request is still admitted by its own ``ADMIT`` script call (atomic on the server:
the limit check and the XADD cannot interleave with another router's), but the calls
made while a previous round trip is in flight are sent together as one pipeline. On a
small machine the per-request ``send``/``recv`` system calls of the router and of
redis-server were a large part of the CPU cost of a request; a batch pays them once.
No waiting is added: a lone request is sent at once (on the next loop iteration).
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

# (KEYS + ARGV of one ADMIT call, the future its caller awaits)
_Pending = tuple[list[Any], asyncio.Future[Any]]


class AdmitBatcher:
    def __init__(self, r: aioredis.Redis, script: AsyncScript) -> None:
        self._r = r
        self._script = script
        self._pending: list[_Pending] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None  # a reference, so it is not collected

    async def admit(self, stream: str, args: list[Any]) -> Any:
        """The ADMIT script's result for (``stream``, ``args``); raises what Redis raised."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(([stream, *args], fut))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().call_soon(self._start)
        return await fut

    def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._flush_all())

    async def _flush_all(self) -> None:
        """Round trips until nothing is pending: what arrives meanwhile goes next."""
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._flush(batch)
        finally:
            self._flushing = False

    async def _flush(self, batch: list[_Pending]) -> None:
        pipe = self._r.pipeline(transaction=False)
        for keys_args, _ in batch:
            pipe.evalsha(self._script.sha, 1, *keys_args)
        try:
            results = await pipe.execute(raise_on_error=False)
        except BaseException as exc:  # connection lost, timeout, cancelled: all fail alike
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc if isinstance(exc, Exception) else ConnectionError(str(exc)))
            if not isinstance(exc, Exception):
                raise
            return
        for (keys_args, fut), res in zip(batch, results, strict=True):
            if isinstance(res, NoScriptError):  # a restarted Redis: the script did not run
                res = await self._retry(keys_args)
            if fut.done():  # the caller was cancelled
                continue
            if isinstance(res, Exception):
                fut.set_exception(res)
            else:
                fut.set_result(res)

    async def _retry(self, keys_args: list[Any]) -> Any:
        """One call through the Script object, which loads the script first."""
        try:
            return await self._script(keys=keys_args[:1], args=keys_args[1:])
        except Exception as exc:
            return exc
