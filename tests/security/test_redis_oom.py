"""Item 5 of the hardening review: a Redis at ``maxmemory`` (noeviction) drains instead of
stalling. Pass criteria, on a real redis-server filled to its limit: replies of admitted
work are still published and their entries freed, a new worker can join the existing
queue, heartbeats go on, and the router refuses new requests with a clear 503, a log
line and ``forescale_router_rejected_total{reason="redis_oom"}``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from forescale import keys
from forescale.devstack.redis_server import RedisServer
from forescale.queue import registry
from forescale.queue.config import ModelConfig
from forescale.queue.protocol import Queue, is_oom, ok_reply
from tests.serving.conftest import infer_body, start_router

REPLY_TO = "fs:resp:oom-test"


@pytest.fixture
async def full() -> AsyncIterator[tuple[RedisServer, aioredis.Redis]]:
    with RedisServer() as server:
        r = aioredis.Redis.from_url(server.url)
        try:
            yield server, r
        finally:
            await r.aclose()


async def _fill(r: aioredis.Redis) -> None:
    """The smallest maxmemory: every command that may grow memory is refused from now on."""
    await r.config_set("maxmemory", "1")
    with pytest.raises(ResponseError) as caught:
        await r.set("ballast", b"x" * 1024)
    assert is_oom(caught.value)


async def test_finishing_work_and_new_workers_survive_a_full_redis(
    full: tuple[RedisServer, aioredis.Redis], caplog: pytest.LogCaptureFixture
) -> None:
    server, r = full
    q = Queue(r)
    await registry.add(r, ModelConfig(name="m", engine="echo"))
    for i in range(5):
        assert await q.admit("m", 100, f"req{i}", REPLY_TO, 2**62, b'{"inputs": []}')
    entries = await q.read("m", "w1", 10, None)
    assert len(entries) == 5
    await _fill(r)

    with pytest.raises(ResponseError, match="maxmemory"):
        await q.admit("m", 100, "late", REPLY_TO, 2**62, b"{}")
    flags = await q.ack("m", "w1", [(e, ok_reply([])) for e in entries])
    assert flags == [True] * 5
    assert await r.xlen(REPLY_TO) == 5 and await r.xlen(keys.request_stream("m")) == 0
    await Queue(r).ensure_group("m")  # a worker starting now joins the existing queue
    await q.heartbeat(keys.workers("m"), "w2", '{"state": "ready"}')

    rt = await start_router(server.url)
    try:
        caplog.set_level(logging.WARNING)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{rt.url}/v2/models/m/infer", json=infer_body([1.0])) as resp:
                status, doc = resp.status, await resp.json(content_type=None)
            async with http.get(f"{rt.url}/v2/health/live") as resp:
                live = resp.status
        rejected = rt.state.metrics.rejected.labels("m", "redis_oom")._value.get()
    finally:
        await rt.stop()
    assert status == 503 and "out of memory" in doc["detail"] and live == 200
    assert rejected == 1
    assert any("out of memory" in rec.getMessage() for rec in caplog.records)
