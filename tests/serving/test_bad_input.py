"""Bad requests get problem+json with the right status, and nothing is enqueued."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from forescale import keys
from forescale.queue.config import ModelConfig

from .conftest import RunningRouter, infer_body, start_router

AddModel = Callable[..., Awaitable[ModelConfig]]


def _tensor(**over: Any) -> bytes:
    t = {"name": "x", "datatype": "FP32", "shape": [2], "data": [1.0, 2.0]}
    t.update(over)
    return json.dumps({"inputs": [t]}).encode()


BAD = [
    ("malformed JSON", b'{"inputs": [', 400),
    ("not an object", b"[1, 2]", 400),
    ("no inputs", b'{"inputs": []}', 400),
    ("unknown datatype", _tensor(datatype="FLOAT99"), 400),
    ("negative dim", _tensor(shape=[-2]), 400),
    ("no data", json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]}).encode(), 400),
    ("duplicate names", json.dumps({"inputs": [json.loads(_tensor())["inputs"][0]] * 2}).encode(), 400),
    ("bad outputs", json.dumps({**json.loads(_tensor()), "outputs": ["x"]}).encode(), 400),
    ("size mismatch", _tensor(shape=[3]), 422),
    ("nesting mismatch", _tensor(shape=[2, 2], data=[[1, 2, 3, 4]]), 422),
    ("ragged", _tensor(shape=[2, 2], data=[[1, 2], [3]]), 422),
    ("strings as FP32", _tensor(data=["a", "b"]), 422),
    ("floats as INT32", _tensor(datatype="INT32", data=[1.5, 2.0]), 422),
    ("INT8 out of range", _tensor(datatype="INT8", data=[1, 300]), 422),
    ("numbers as BYTES", _tensor(datatype="BYTES", data=[1, 2]), 422),
    ("numbers as BOOL", _tensor(datatype="BOOL", data=[1, 0]), 422),
]


@pytest.mark.parametrize(("what", "body", "status"), BAD, ids=[b[0] for b in BAD])
async def test_bad_body_is_a_problem_and_not_enqueued(
    what: str, body: bytes, status: int, add_model: AddModel, router: RunningRouter,
    http: aiohttp.ClientSession, aredis: aioredis.Redis,
) -> None:  # fmt: skip
    await add_model("m", "echo")
    async with http.post(f"{router.url}/v2/models/m/infer", data=body) as resp:
        assert resp.status == status, await resp.text()
        assert resp.content_type == "application/problem+json"
        doc = await resp.json(content_type=None)
    assert doc["status"] == status and doc["detail"] and doc["error"] == doc["detail"]
    assert await aredis.xlen(keys.request_stream("m")) == 0


async def _post(http: aiohttp.ClientSession, url: str, body: Any, **kw: Any) -> tuple[int, dict[str, Any]]:
    async with http.post(
        url, **({"json": body} if not isinstance(body, bytes) else {"data": body}), **kw
    ) as r:
        assert r.content_type == "application/problem+json"
        return r.status, await r.json(content_type=None)


async def test_body_over_the_limit_is_413(
    redis_url: str, add_model: AddModel, http: aiohttp.ClientSession, aredis: aioredis.Redis
) -> None:
    await add_model("m", "echo")
    rt = await start_router(redis_url, max_body_bytes=4096)

    async def chunks() -> Any:  # no Content-Length: caught after reading
        for _ in range(6):
            yield b" " * 1024

    try:
        status, _ = await _post(http, f"{rt.url}/v2/models/m/infer", infer_body([1.0] * 2000))
        async with http.post(f"{rt.url}/v2/models/m/infer", data=chunks()) as resp:
            status2, ctype = resp.status, resp.content_type
    finally:
        await rt.stop()
    assert (status, status2, ctype) == (413, 413, "application/problem+json")
    assert await aredis.xlen(keys.request_stream("m")) == 0


async def test_unknown_model_is_404(router: RunningRouter, http: aiohttp.ClientSession) -> None:
    status, doc = await _post(http, f"{router.url}/v2/models/nope/infer", infer_body([1.0]))
    assert status == 404 and "nope" in doc["detail"]


@pytest.mark.parametrize("value", ["abc", "0", "-1", "99999"])
async def test_bad_request_timeout_header_is_400(
    value: str, add_model: AddModel, router: RunningRouter, http: aiohttp.ClientSession,
    aredis: aioredis.Redis,
) -> None:  # fmt: skip
    await add_model("m", "echo")
    url = f"{router.url}/v2/models/m/infer"
    status, doc = await _post(http, url, infer_body([1.0]), headers={"X-Request-Timeout": value})
    assert status == 400 and "X-Request-Timeout" in doc["detail"]
    assert await aredis.xlen(keys.request_stream("m")) == 0


@pytest.mark.parametrize(
    ("header", "body", "status"),
    [
        ("abc", b"{}", 400),
        ("99", b"{}", 400),
        ("%d", b"{'x'}", 400),  # length of the header is right, the JSON is not
    ],
)
async def test_bad_binary_framing_is_400(
    header: str, body: bytes, status: int, add_model: AddModel, router: RunningRouter,
    http: aiohttp.ClientSession,
) -> None:  # fmt: skip
    await add_model("m", "echo")
    url = f"{router.url}/v2/models/m/infer"
    value = header % len(body) if "%d" in header else header
    got, _ = await _post(http, url, body, headers={"Inference-Header-Content-Length": value})
    assert got == status


def _binary_request(size: int, blob: bytes) -> tuple[bytes, int]:
    params = {"binary_data_size": size}
    head = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "parameters": params}]})
    return head.encode() + blob, len(head)


@pytest.mark.parametrize(
    ("size", "blob", "status"),
    [
        (8, b"\0" * 4, 400),  # says 8 bytes, has 4
        (8, b"\0" * 12, 400),  # 4 bytes left over
        (4, b"\0" * 4, 422),  # 4 bytes are not 2 FP32 values
    ],
)
async def test_bad_binary_tensors_are_problems_and_not_enqueued(
    size: int, blob: bytes, status: int, add_model: AddModel, router: RunningRouter,
    http: aiohttp.ClientSession, aredis: aioredis.Redis,
) -> None:  # fmt: skip
    await add_model("m", "echo")
    body, head = _binary_request(size, blob)
    got, doc = await _post(
        http, f"{router.url}/v2/models/m/infer", body, headers={"Inference-Header-Content-Length": str(head)}
    )
    assert got == status, doc
    assert await aredis.xlen(keys.request_stream("m")) == 0


async def test_bearer_token_guards_inference_only(
    redis_url: str, add_model: AddModel, http: aiohttp.ClientSession, aredis: aioredis.Redis
) -> None:
    await add_model("m", "echo", default_timeout_s=0.2)
    rt = await start_router(redis_url, auth_token="s3cret")
    url = f"{rt.url}/v2/models/m/infer"
    try:
        no_token = await _post(http, url, infer_body([1.0]))
        wrong = await _post(http, url, infer_body([1.0]), headers={"Authorization": "Bearer nope"})
        assert await aredis.xlen(keys.request_stream("m")) == 0
        # With the right token the request is admitted (no worker runs: it times out with 504).
        right = await _post(http, url, infer_body([1.0]), headers={"Authorization": "Bearer s3cret"})
        async with http.get(f"{rt.url}/v2/health/ready") as resp:
            ready = resp.status
    finally:
        await rt.stop()
    assert no_token[0] == 401 and wrong[0] == 401 and right[0] == 504 and ready == 200
    assert await aredis.xlen(keys.request_stream("m")) == 1
