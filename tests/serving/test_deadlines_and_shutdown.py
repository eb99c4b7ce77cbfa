"""Deadlines (504, never run late), a dead Redis (503 at once), graceful router shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from forescale import keys
from forescale.devstack.ports import free_port
from forescale.queue.config import ModelConfig

from .conftest import RunningRouter, post_value, read_runs, start_router, start_worker, wait_for

AddModel = Callable[..., Awaitable[ModelConfig]]


async def test_expired_request_gets_504_and_is_never_run(
    redis_url: str, add_model: AddModel, router: RunningRouter, http: aiohttp.ClientSession,
    aredis: aioredis.Redis, tmp_path: Path,
) -> None:  # fmt: skip
    """No worker while the deadline passes: 504; the worker started later answers the
    entry with an error without running it; the router ignores that late reply."""
    log = tmp_path / "runs.log"
    await add_model("m", "echo", engine_options={"run_log": str(log)})
    status, doc = await post_value(http, f"{router.url}/v2/models/m/infer", 1.0, timeout_s=0.2)
    assert status == 504 and "deadline" in doc["detail"]
    assert await aredis.xlen(keys.request_stream("m")) == 1
    w = await start_worker(redis_url, "m")
    try:
        await wait_for(lambda: router.state.replies.duplicates == 1, 10, "the late reply")
        status2, _ = await post_value(http, f"{router.url}/v2/models/m/infer", 2.0, timeout_s=10)
    finally:
        await w.stop()
    assert status2 == 200
    assert [v for v, _, _ in read_runs(log)] == [2.0]  # 1.0 never ran
    assert await aredis.xlen(keys.request_stream("m")) == 0


async def test_dead_redis_is_503_at_once_and_not_ready(http: aiohttp.ClientSession) -> None:
    rt = await start_router(f"redis://127.0.0.1:{free_port()}/0")
    try:
        async with http.post(f"{rt.url}/v2/models/m/infer", json={"inputs": []}) as resp:
            infer = resp.status, resp.content_type, resp.headers.get("Retry-After")
        async with http.get(f"{rt.url}/v2/health/ready") as resp:
            ready = resp.status
        async with http.get(f"{rt.url}/v2/health/live") as resp:
            live = resp.status
    finally:
        await rt.stop()
    assert infer == (503, "application/problem+json", "1")
    assert (ready, live) == (503, 200)


async def test_router_shutdown_waits_for_in_flight_replies(
    redis_url: str, add_model: AddModel, http: aiohttp.ClientSession
) -> None:
    await add_model("m", "sleep", engine_options={"base_ms": 500})
    w = await start_worker(redis_url, "m")
    rt = await start_router(redis_url)
    try:
        call = asyncio.create_task(post_value(http, f"{rt.url}/v2/models/m/infer", 7.0, timeout_s=10))
        await wait_for(lambda: rt.state.replies.pending == 1, 10, "request in flight")
        await rt.stop()  # stops accepting, waits for the reply, then closes
        status, doc = await call
    finally:
        await w.stop()
    assert status == 200 and doc["outputs"][0]["data"] == [7.0]
