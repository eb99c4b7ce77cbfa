"""Token throughput counters: a real ``llm`` worker counts the prompt tokens it admits and
the tokens it generates per second; ``queue/arrivals.read(what="tokens")`` reads them back,
next to the requests the router counted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from openai import AsyncOpenAI
from redis.exceptions import ConnectionError as RedisConnectionError

from forescale import keys
from forescale.queue import arrivals
from forescale.queue.client import connect
from forescale.queue.config import ModelConfig
from tests.serving.conftest import RunningRouter, RunningWorker, start_worker

OPTS = {"layers": 2, "d_model": 64, "heads": 4, "kv_heads": 2, "max_context": 128}


@pytest.fixture
async def llm(
    redis_url: str, add_model: Callable[..., Awaitable[ModelConfig]], router: RunningRouter
) -> AsyncIterator[tuple[AsyncOpenAI, RunningWorker]]:
    await add_model("tiny/chat{1}", engine="llm", engine_options=OPTS)  # a name that needs escaping
    w = await start_worker(redis_url, "tiny/chat{1}", block_ms=50)
    client = AsyncOpenAI(base_url=router.url + "/v1", api_key="unused", max_retries=0)
    yield client, w
    await client.close()
    await w.stop()


async def test_worker_counts_prompt_and_generated_tokens(
    llm: tuple[AsyncOpenAI, RunningWorker], aredis: aioredis.Redis
) -> None:
    client, w = llm
    t0 = int(time.time()) - 1
    used = 0
    for prompt, n in (("Hello", 12), ("a longer prompt here", 5)):
        out = await client.completions.create(model="tiny/chat{1}", prompt=prompt, max_tokens=n, seed=1)
        assert out.usage is not None
        used += out.usage.prompt_tokens + out.usage.completion_tokens
    await w.stop()  # the last flush happens on the way out (heartbeats flush every 2 s)
    t1 = int(time.time()) + 1
    got = await arrivals.read(aredis, "tiny/chat{1}", t0, t1, what="tokens")
    assert sum(got.per_second()) == used
    assert got.first_counted() is not None
    # the key carries the model's hash tag (one cluster slot per model), with a TTL
    name = keys.tokens("tiny/chat{1}", got.first + got.first_counted())  # type: ignore[operator]
    assert "{m:tiny/chat%7B1%7D}" in name and 0 < await aredis.ttl(name) <= arrivals.TTL_S

    requests = 0
    for _ in range(100):  # the router flushes its arrivals every heartbeat
        requests = sum((await arrivals.read(aredis, "tiny/chat{1}", t0, t1)).per_second())
        if requests == 2:
            break
        await asyncio.sleep(0.05)
    assert requests == 2


async def test_a_failed_flush_keeps_the_counts(redis_url: str, aredis: aioredis.Redis) -> None:
    tally = arrivals.TokenTally("m")
    tally.count(1000.5, 7)
    tally.count(1000.9, 3)
    tally.count(1001.0, 0)  # nothing counted for no tokens
    dead = aioredis.Redis(port=1, socket_connect_timeout=0.2)  # nothing listens there
    with pytest.raises(RedisConnectionError):
        await tally.flush(dead)
    await dead.aclose()
    assert dict(tally.counts) == {1000: 10}
    await tally.flush(aredis)
    assert (await arrivals.read(aredis, "m", 1000, 1001, what="tokens")).counts == (10, None)
    assert not tally.counts


async def test_token_counters_on_a_redis_cluster(cluster_url: str) -> None:
    """One model's seconds share its slot: the flush pipeline and the MGET are legal."""
    r = connect(cluster_url, timeout_s=5.0)
    try:
        tally = arrivals.TokenTally("meta-llama/Llama-3.1-8B-Instruct")
        for sec in range(1000, 1010):
            tally.count(sec + 0.5, sec)
        await tally.flush(r)
        got = await arrivals.read(r, tally.model, 1000, 1010, what="tokens")
        assert got.counts == (*range(1000, 1010), None)
    finally:
        await r.aclose()
