"""The queue on a real 3-shard Redis Cluster (redis-server processes, ``devstack``):
admission -> worker -> reply end to end, through the router's and the worker's own
``redis+cluster://`` clients, for models with free-text names on different shards."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast
from urllib.parse import quote

import aiohttp
import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from yarl import URL

from forescale import keys
from forescale.queue import arrivals, heartbeat, registry
from forescale.queue.client import connect
from forescale.queue.config import ModelConfig
from tests.serving.conftest import infer_body, start_router, start_worker

# Slots 9428 and 13709: the second and third shard of an even three-way split.
MODELS = ("meta-llama/Llama-3.1-8B-Instruct", "Org/{weird}.v2")


def _model_keys(model: str) -> list[str]:
    return [
        keys.request_stream(model), keys.dead_letters(model), keys.arrivals(model, 1_700_000_000),
        keys.workers(model), keys.policy_state(model), keys.decisions(model), keys.forecast(model),
        keys.prescaler_history(model, 60.0), keys.tokens(model, 1_700_000_000),
        keys.prescaler_token_history(model, 60.0),
    ]  # fmt: skip


@pytest.mark.parametrize("model", [*MODELS, "m", "}", "{", "a}b{c", "%7B", "{m:x}"])
def test_every_key_of_a_model_is_in_one_slot(model: str) -> None:
    assert len({key_slot(k.encode()) for k in _model_keys(model)}) == 1


def test_tags_never_collide_through_escapes() -> None:
    names = ["a{b", "a%7Bb", "a}b", "a%7Db", "a%b", "a%25b", "a", "{a}"]
    assert len({keys.tag(n) for n in names}) == len(names)


async def _infer(http: aiohttp.ClientSession, base: str, model: str, value: float) -> tuple[int, Any]:
    url = URL(f"{base}/v2/models/{quote(model, safe='')}/infer", encoded=True)
    async with http.post(url, json=infer_body([value])) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_admission_worker_reply_across_shards(cluster_url: str) -> None:
    r = connect(cluster_url, timeout_s=5.0)
    for m in MODELS:
        await registry.add(r, ModelConfig(name=m, engine="echo"))
    router = await start_router(cluster_url)
    workers = [await start_worker(cluster_url, m) for m in MODELS]
    try:
        cluster = cast(RedisCluster, r)
        shards = {cluster.get_node_from_key(keys.request_stream(m)).name for m in MODELS}
        assert len(shards) == 2  # the models' streams, and so their scripts, are on two shards
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            for m in MODELS:
                got = await asyncio.gather(*(_infer(http, router.url, m, float(i)) for i in range(20)))
                assert [s for s, _ in got] == [200] * 20, got
                assert [d["outputs"][0]["data"] for _, d in got] == [[float(i)] for i in range(20)]
                assert {d["model_name"] for _, d in got} == {m}
        await router.state.heartbeat()  # flush the arrival counters
        now = int(time.time())
        for m in MODELS:
            assert await r.xlen(keys.request_stream(m)) == 0  # every entry acked and deleted
            assert sum((await arrivals.read(r, m, now - 120, now)).per_second()) == 20
            # the ready beat follows the warm-up by up to one heartbeat period
            for _ in range(100):
                if (await heartbeat.live(r, m, time.time())).count("ready") == 1:
                    break
                await asyncio.sleep(0.1)
            assert (await heartbeat.live(r, m, time.time())).count("ready") == 1
        assert router.state.replies.duplicates == 0
    finally:
        for w in workers:
            await w.stop()
        await router.stop()
        await r.aclose()
