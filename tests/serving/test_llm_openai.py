"""The official ``openai`` client against the router's OpenAI routes, with a real Redis
and a real ``llm`` worker: streaming and not, usage, /v1/models, typed errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import openai
import pytest
from openai import AsyncOpenAI

from forescale.queue.config import ModelConfig
from tests.serving.conftest import RunningRouter, start_worker

OPTS = {"layers": 2, "d_model": 64, "heads": 4, "kv_heads": 2, "max_context": 128}


@pytest.fixture
async def llm(redis_url: str, add_model: Callable[..., Awaitable[ModelConfig]], router: RunningRouter):
    await add_model("tiny", engine="llm", engine_options=OPTS)
    w = await start_worker(redis_url, "tiny", block_ms=50)
    client = AsyncOpenAI(base_url=router.url + "/v1", api_key="unused", max_retries=0)
    yield client
    await client.close()
    await w.stop()


async def test_completion_streaming_equals_whole(llm: AsyncOpenAI) -> None:
    whole = await llm.completions.create(model="tiny", prompt="Hello", max_tokens=12, seed=7, temperature=0.9)
    assert whole.usage is not None
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (6, 12)
    assert whole.choices[0].finish_reason == "length"
    parts, finishes = [], []
    stream = await llm.completions.create(
        model="tiny", prompt="Hello", max_tokens=12, seed=7, temperature=0.9, stream=True
    )
    async for chunk in stream:
        parts.append(chunk.choices[0].text)
        finishes.append(chunk.choices[0].finish_reason)
    assert "".join(parts) == whole.choices[0].text
    assert finishes[-1] == "length" and len(parts) > 1


async def test_chat_streaming_and_models(llm: AsyncOpenAI) -> None:
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    whole = await llm.chat.completions.create(model="tiny", messages=msgs, max_tokens=8)  # type: ignore[arg-type]
    stream = await llm.chat.completions.create(
        model="tiny",
        messages=msgs,
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},  # type: ignore[arg-type]
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage is not None:
            usage = chunk.usage
    assert text == whole.choices[0].message.content
    assert usage is not None and usage.completion_tokens == 8
    models = await llm.models.list()
    assert [m.id for m in models.data] == ["tiny"]


async def test_errors_are_typed(llm: AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        await llm.completions.create(model="nope", prompt="x", max_tokens=2)
    with pytest.raises(openai.BadRequestError) as bad:
        await llm.completions.create(model="tiny", prompt="x" * 500, max_tokens=2)
    assert bad.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        await llm.completions.create(model="tiny", prompt="x", max_tokens=-1)
    with pytest.raises(openai.BadRequestError):
        await llm.chat.completions.create(model="tiny", messages=[{"role": "wizard", "content": "x"}])  # type: ignore[list-item,misc]


async def test_kserve_generate_and_generate_stream(llm: AsyncOpenAI, router: RunningRouter) -> None:
    """The generate extension returns the same text as the OpenAI route for the same request."""
    import aiohttp
    import orjson

    ref = await llm.completions.create(
        model="tiny", prompt="Hi there", max_tokens=10, seed=3, temperature=0.7
    )
    doc = {
        "text_input": "Hi there",
        "parameters": {"max_tokens": 10, "seed": 3, "temperature": 0.7},
        "id": "r1",
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{router.url}/v2/models/tiny/generate", json=doc) as resp:
            whole = await resp.json()
        events = []
        async with http.post(f"{router.url}/v2/models/tiny/generate_stream", json=doc) as resp:
            assert resp.content_type == "text/event-stream"
            async for raw in resp.content:
                if raw.startswith(b"data: "):
                    events.append(orjson.loads(raw[6:]))
    assert (
        whole["text_output"] == ref.choices[0].text and whole["model_name"] == "tiny" and whole["id"] == "r1"
    )
    assert whole["usage"]["completion_tokens"] == 10 and whole["finish_reason"] == "length"
    assert "".join(e["text_output"] for e in events) == ref.choices[0].text
    assert events[-1]["finish_reason"] == "length" and all(e["finish_reason"] is None for e in events[:-1])
