"""Generation faults with a real Redis and real worker processes. Pass criteria are in
each docstring and asserted explicitly; every stream's text is compared with the same
request run uninterrupted on the engine alone (same seed)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from forescale import keys
from forescale.devstack.ports import free_port
from forescale.devstack.redis_server import RedisServer
from forescale.queue import registry
from forescale.queue.config import ModelConfig

from .conftest import RunningRouter, SpawnedWorker, start_router, start_worker, wait_for, wait_workers_ready
from .llm_support import OPTS, body, reference, sse

AddModel = Callable[..., Awaitable[ModelConfig]]
STREAM = keys.request_stream("tiny")


async def _holder(r: aioredis.Redis, workers: list[SpawnedWorker]) -> SpawnedWorker:
    """The worker that holds the most entries (the one to kill)."""
    pend = await r.xpending(STREAM, keys.GROUP)
    counts = {(c["name"].decode() if isinstance(c["name"], bytes) else c["name"]): int(c["pending"])
              for c in pend["consumers"]}  # fmt: skip
    return max(workers, key=lambda w: counts.get(w.worker_id, 0))


async def _lose_a_worker_mid_stream(
    router: RunningRouter,
    aredis: aioredis.Redis,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    how: signal.Signals,
) -> None:
    url = router.state.settings.redis_url
    a = SpawnedWorker(
        url, "tiny", "A", tmp_path, FORESCALE_WORKER_DRAIN_GRACE_S="0.3", FORESCALE_WORKER_BLOCK_MS="100"
    )
    b = SpawnedWorker(url, "tiny", "B", tmp_path, FORESCALE_WORKER_BLOCK_MS="100")
    try:
        await wait_workers_ready(aredis, "tiny", 2)
        bodies = [body(i, 150) for i in range(6)]
        seen: list[list[int]] = [[] for _ in bodies]
        url = f"{router.url}/v1/completions"
        calls = [asyncio.create_task(sse(http, url, d, 60, seen[i])) for i, d in enumerate(bodies)]
        await wait_for(lambda: all(len(s) >= 5 for s in seen), 30, "every stream flowing")
        victim = await _holder(aredis, [a, b])
        victim.proc.send_signal(how)
        results = await asyncio.gather(*calls)
        if how == signal.SIGTERM:
            assert victim.proc.wait(10) == 0  # drained and exited on its own
    finally:
        a.stop()
        b.stop()
    expected = await asyncio.to_thread(reference, bodies)  # the event loop keeps serving
    for res, want in zip(results, expected, strict=True):
        assert res["error"] is None and res["done"], res
        assert res["text"] == want  # no gap, no repeat, same draws as an uninterrupted run
    assert await aredis.xlen(STREAM) == 0
    assert await aredis.hlen(keys.gen_progress("tiny")) == 0


async def test_kill_9_mid_stream_continues_on_the_other_worker(
    add_model: AddModel,
    router: RunningRouter,
    aredis: aioredis.Redis,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    """Pass: with a worker killed (-9) mid-stream, every stream completes ([DONE], no
    error event) and each text equals the uninterrupted run; nothing is left queued."""
    await add_model("tiny", engine="llm", engine_options=OPTS, min_idle_ms=500)
    await _lose_a_worker_mid_stream(router, aredis, http, tmp_path, signal.SIGKILL)


async def test_sigterm_with_short_grace_hands_sequences_over(
    add_model: AddModel,
    router: RunningRouter,
    aredis: aioredis.Redis,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    """Pass: SIGTERM with a 0.3 s grace (shorter than the answers): the worker exits 0
    and every stream completes on the other worker with the uninterrupted text."""
    await add_model("tiny", engine="llm", engine_options=OPTS, min_idle_ms=30_000)  # no reaper: handover only
    await _lose_a_worker_mid_stream(router, aredis, http, tmp_path, signal.SIGTERM)


async def test_client_disconnect_frees_kv_blocks(
    redis_url: str, add_model: AddModel, router: RunningRouter, aredis: aioredis.Redis
) -> None:
    """Pass: a client that goes away mid-stream: the worker's KV usage returns to its
    idle value (0) without the sequence running to its max_tokens, and the entry is gone."""
    await add_model("tiny", engine="llm", engine_options=OPTS)
    w = await start_worker(redis_url, "tiny", block_ms=50)
    gw = w.worker
    try:
        async with aiohttp.ClientSession() as http:
            resp = await http.post(f"{router.url}/v1/completions", json=body(0, 500))
            for _ in range(5):
                await resp.content.readline()
            assert gw.llm.kv_usage() > 0  # type: ignore[attr-defined]
            resp.close()  # the client goes away
        await wait_for(lambda: gw.llm.kv_usage() == 0, 5, "KV usage back to idle")  # type: ignore[attr-defined]
        generated = gw.gm.generated_tokens._value.get()  # type: ignore[attr-defined]
        assert 0 < generated < 450
        await wait_for(lambda: not gw.inflight, 5, "entry acked")
        assert await aredis.xlen(STREAM) == 0
    finally:
        await w.stop()


async def test_tiny_kv_pool_preempts_and_every_stream_completes(
    redis_url: str, add_model: AddModel, router: RunningRouter, http: aiohttp.ClientSession
) -> None:
    """Pass: 8 streams on a KV pool with room for about two: sequences are preempted
    (counter > 0) and resumed; every stream completes with the uninterrupted text."""
    opts = {**OPTS, "kv_blocks": 12}
    await add_model("tiny", engine="llm", engine_options=opts)
    w = await start_worker(redis_url, "tiny", block_ms=50)
    try:
        bodies = [body(i, 60) for i in range(8)]
        results = await asyncio.gather(*(sse(http, f"{router.url}/v1/completions", d, 60) for d in bodies))
        preempted = w.worker.gm.preemptions._value.get()  # type: ignore[attr-defined]
    finally:
        await w.stop()
    assert preempted > 0
    for res, want in zip(results, await asyncio.to_thread(reference, bodies, **opts), strict=True):
        assert res["done"] and res["error"] is None and res["text"] == want


async def test_redis_restart_mid_stream_ends_every_stream_cleanly(tmp_path: Path) -> None:
    """Pass: Redis killed (-9) and restarted (AOF) while streams run: every stream ends
    with an error event or completes with the uninterrupted text, each before its
    deadline (nothing hangs); the worker survives."""
    server = RedisServer(port=free_port(), data_dir=tmp_path / "redis")
    server.data_dir.mkdir()
    with server:
        r = aioredis.Redis.from_url(server.url)
        await registry.add(r, ModelConfig(name="tiny", engine="llm", engine_options=OPTS, min_idle_ms=500))
        worker = SpawnedWorker(server.url, "tiny", "A", tmp_path, FORESCALE_WORKER_BLOCK_MS="100")
        rt = await start_router(server.url)
        try:
            await wait_workers_ready(r, "tiny", 1)
            bodies = [body(i, 300) for i in range(4)]
            seen: list[list[int]] = [[] for _ in bodies]
            url = f"{rt.url}/v1/completions"
            async with aiohttp.ClientSession() as http:
                calls = [asyncio.create_task(sse(http, url, d, 8, seen[i])) for i, d in enumerate(bodies)]
                await wait_for(lambda: all(len(s) >= 3 for s in seen), 30, "every stream flowing")
                server.kill()
                await asyncio.sleep(0.3)
                server.start()
                results = await asyncio.wait_for(asyncio.gather(*calls), 15)
            alive = worker.proc.poll() is None
        finally:
            await rt.stop()
            worker.stop()
            await r.aclose()
    expected = await asyncio.to_thread(reference, bodies)
    for res, want in zip(results, expected, strict=True):
        assert res["elapsed"] < 8 + 3  # ended by its deadline (8 s) at the latest
        if res["error"] is None:
            assert res["done"] and res["text"] == want
        else:
            assert res["error"]["message"] and want.startswith(res["text"])
    assert alive
