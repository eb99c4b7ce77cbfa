"""Redis clients for the data plane: short timeouts and no silent retries.

redis-py retries a failed command ten times with backoff by default; on the request path
that turns a dead Redis into a hung request. Here a dead Redis fails at once and the
caller decides (503, back off, retry the loop).

``redis+cluster://host:port`` (or ``rediss+cluster://``) names a Redis Cluster by one
seed node: the client is redis-py's ``RedisCluster``, which finds the other shards and
follows MOVED/ASK redirections. Every key of a model shares a slot (``keys.tag``) and
no script takes keys of two slots (``scripts.py``), so the same queue code runs on both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, cast

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import DataError


class HiredisPacking(Connection):
    """A TCP connection that packs commands with hiredis' C packer, as redis-py's sync
    client already does when hiredis is installed (its asyncio client packs in Python:
    ~10 str/bytes encodes per admission, a visible share of the router's CPU). The bytes
    on the wire are the same; unsupported types still raise ``DataError``."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str):  # "CONFIG GET" -> two arguments, as redis-py does
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        args = tuple(bytes(a) if isinstance(a, (bytearray, memoryview)) else a for a in args)
        try:
            return [hiredis.pack_command(args)]
        except TypeError as exc:
            raise DataError(str(exc)) from None


CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def _cluster(url: str, read_timeout_s: float, timeout_s: float) -> aioredis.Redis | None:
    """A cluster client for a ``*+cluster://`` URL, else None.

    Typed as ``Redis``: the queue, registry and readers use only commands both clients
    have, with the same signatures (RedisCluster is no subclass, so the cast)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in CLUSTER_SCHEMES:
        return None
    client = RedisCluster.from_url(
        f"{CLUSTER_SCHEMES[scheme]}://{rest}",
        socket_timeout=read_timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),  # as below: fail at once, the caller decides
    )
    return cast(aioredis.Redis, client)


def connect(url: str, timeout_s: float = 1.0) -> aioredis.Redis:
    """A client for short commands: connect and read within ``timeout_s``."""
    cluster = _cluster(url, timeout_s, timeout_s)
    if cluster is not None:
        return cluster
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
        connection_class=HiredisPacking,  # redis:// only: unix:// and rediss:// keep theirs
    )


def connect_blocking(url: str, block_s: float, timeout_s: float = 1.0) -> aioredis.Redis:
    """A client for XREAD/XREADGROUP BLOCK: its read timeout exceeds the block time."""
    cluster = _cluster(url, block_s + timeout_s, timeout_s)
    if cluster is not None:
        return cluster
    return aioredis.Redis.from_url(
        url,
        socket_timeout=block_s + timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        connection_class=HiredisPacking,
    )


def raise_if_cancelling() -> None:
    """Honour a pending cancel after catching a Redis error in a loop that retries.

    On Python 3.11 a cancel that lands inside a Redis call can surface as TimeoutError (an
    OSError, redis-py's socket timeout racing asyncio.timeout) instead of CancelledError; a
    loop that catches OSError and retries then never ends, and whatever awaits it at
    shutdown (an app's cleanup, a worker's drain) hangs. The task's cancel request stays
    visible, so check it wherever such a loop catches and goes on."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def stop_tasks(tasks: Sequence[asyncio.Task[Any]], timeout_s: float, what: str) -> None:
    """Cancel background loops and wait for them at most ``timeout_s``: a shutdown must end
    even if a loop misses its cancel inside a Redis call (see ``raise_if_cancelling``); one
    still running is logged and left to the process exit."""
    for t in tasks:
        t.cancel()
    if not tasks:
        return
    _, stuck = await asyncio.wait(tasks, timeout=timeout_s)
    if stuck:
        logging.getLogger(__name__).warning(
            "%s: %d background task(s) still running %.0f s after cancel", what, len(stuck), timeout_s
        )
