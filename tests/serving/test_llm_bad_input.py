"""Bad input on every generation route: a clear error in the route's own format (OpenAI
error object on /v1, problem+json on /v2) and nothing enqueued."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from forescale import keys
from forescale.queue.config import ModelConfig

from .conftest import RunningRouter, start_router
from .llm_support import OPTS

AddModel = Callable[..., Awaitable[ModelConfig]]
LONG = "x" * 600  # the context holds 512

COMPLETION = {"model": "tiny", "prompt": "hi", "max_tokens": 4}
CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
GEN = {"text_input": "hi", "parameters": {"max_tokens": 4}}

CASES: list[tuple[str, str, Any, int, str | None]] = [
    ("/v1/completions", "malformed", b"{not json", 400, None),
    ("/v1/completions", "unknown model", {**COMPLETION, "model": "nope"}, 404, "model"),
    ("/v1/completions", "negative max_tokens", {**COMPLETION, "max_tokens": -1}, 400, "max_tokens"),
    ("/v1/completions", "huge max_tokens", {**COMPLETION, "max_tokens": 10**9}, 400, "max_tokens"),
    ("/v1/completions", "over-long prompt", {**COMPLETION, "prompt": LONG}, 400, "prompt"),
    ("/v1/completions", "no prompt", {"model": "tiny"}, 400, "prompt"),
    ("/v1/completions", "bad temperature", {**COMPLETION, "temperature": "hot"}, 400, "temperature"),
    ("/v1/chat/completions", "malformed", b"[1, 2", 400, None),
    ("/v1/chat/completions", "unknown model", {**CHAT, "model": "nope"}, 404, "model"),
    ("/v1/chat/completions", "wrong role", {**CHAT, "messages": [{"role": "robot", "content": "x"}]}, 400,
     "messages[0].role"),
    ("/v1/chat/completions", "no messages", {**CHAT, "messages": []}, 400, "messages"),
    ("/v1/chat/completions", "negative max_tokens", {**CHAT, "max_tokens": 0}, 400, "max_tokens"),
    ("/v1/chat/completions", "over-long prompt", {**CHAT, "messages": [{"role": "user", "content": LONG}]},
     400,
     "prompt"),
    ("/v2/models/tiny/generate", "malformed", b"{", 400, None),
    ("/v2/models/nope/generate", "unknown model", GEN, 404, None),
    ("/v2/models/tiny/generate", "no text_input", {"parameters": {}}, 400, None),
    ("/v2/models/tiny/generate", "negative max_tokens", {**GEN, "parameters": {"max_tokens": -5}}, 400, None),
    ("/v2/models/tiny/generate_stream", "huge max_tokens", {**GEN, "parameters": {"max_tokens": 10**6}}, 400,
     None),
    ("/v2/models/tiny/generate_stream", "over-long prompt", {**GEN, "text_input": LONG}, 400, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "what", "doc", "status", "param"), CASES, ids=[f"{c[0]} {c[1]}" for c in CASES]
)
async def test_bad_input_gets_a_clear_error_and_nothing_is_enqueued(
    add_model: AddModel, router: RunningRouter, http: aiohttp.ClientSession, aredis: aioredis.Redis,
    path: str, what: str, doc: Any, status: int, param: str | None,
) -> None:  # fmt: skip
    await add_model("tiny", engine="llm", engine_options=OPTS)
    kw: dict[str, Any] = {"data": doc} if isinstance(doc, bytes) else {"json": doc}
    async with http.post(router.url + path, **kw) as resp:
        body = await resp.json(content_type=None)
        ctype = resp.content_type
    assert resp.status == status, body
    if path.startswith("/v1"):
        err = body["error"]
        assert ctype == "application/json" and err["message"] and err["type"]
        assert err["param"] == param
    else:
        assert ctype == "application/problem+json" and body["status"] == status and body["detail"]
    assert await aredis.xlen(keys.request_stream("tiny")) == 0


async def test_bearer_auth_on_generation_routes(
    redis_url: str, add_model: AddModel, http: aiohttp.ClientSession
                                               ) -> None:  # fmt: skip
    await add_model("tiny", engine="llm", engine_options=OPTS)
    rt = await start_router(redis_url, auth_token="s3cret")
    try:
        async with http.post(rt.url + "/v1/completions", json=COMPLETION) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["type"] == "authentication_error"
        async with http.post(rt.url + "/v2/models/tiny/generate", json=GEN) as resp:
            assert resp.status == 401 and resp.content_type == "application/problem+json"
        async with http.get(rt.url + "/v1/models", headers={"Authorization": "Bearer s3cret"}) as resp:
            assert resp.status == 200 and [m["id"] for m in (await resp.json())["data"]] == ["tiny"]
    finally:
        await rt.stop()
