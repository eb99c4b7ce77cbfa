"""Generation requests in the router's request counter (the SLO's error ratio and the
demand rate), by model and final status, with the official ``openai`` client, a real
router, a real ``llm`` worker and Redis."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from forescale.queue.config import ModelConfig

from .conftest import RunningRouter, start_worker
from .llm_support import OPTS


async def test_generation_requests_are_counted(
    redis_url: str, add_model: Callable[..., Awaitable[ModelConfig]], router: RunningRouter
) -> None:
    await add_model("tiny", engine="llm", engine_options=OPTS)
    w = await start_worker(redis_url, "tiny", block_ms=50)
    client = AsyncOpenAI(base_url=router.url + "/v1", api_key="unused", max_retries=0)
    try:
        await client.completions.create(model="tiny", prompt="Hello", max_tokens=4)
        async for _ in await client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=4, stream=True
        ):
            pass
        with pytest.raises(openai.NotFoundError):
            await client.completions.create(model="nope", prompt="x", max_tokens=2)
        with pytest.raises(openai.BadRequestError):
            await client.completions.create(model="tiny", prompt="x", max_tokens=-1)
        async with aiohttp.ClientSession() as http:
            doc = {"text_input": "Hi", "parameters": {"max_tokens": 3}}
            async with http.post(f"{router.url}/v2/models/tiny/generate_stream", json=doc) as resp:
                await resp.read()
            async with http.post(f"{router.url}/v2/models/tiny/generate", json={"text_input": ""}) as resp:
                assert resp.status == 400
    finally:
        await client.close()
        await w.stop()
    get = router.state.metrics.registry.get_sample_value
    assert get("forescale_router_requests_total", {"model": "tiny", "code": "200"}) == 3
    assert get("forescale_router_requests_total", {"model": "tiny", "code": "400"}) == 2
    assert get("forescale_router_requests_total", {"model": "", "code": "404"}) == 1
