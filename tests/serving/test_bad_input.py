"""Bad requests get problem+json with the right status, and nothing is enqueued."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from forescale import keys
from forescale.queue.config import ModelConfig

from .conftest import RunningRouter, infer_body, start_router, start_worker

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


# --- hardening review (issue 15): items 4, 9, 10, 12 ---------------------------------------

_OK = json.loads(_tensor())["inputs"][0]
HARDENED = [
    ("outputs is a number", json.dumps({"inputs": [_OK], "outputs": 5}).encode(), 400),
    ("outputs is true", json.dumps({"inputs": [_OK], "outputs": True}).encode(), 400),
    ("binary output without a name",
     json.dumps({"inputs": [_OK], "outputs": [{"parameters": {"binary_data": True}}]}).encode(), 400),
    ("output parameters a list",
     json.dumps({"inputs": [_OK], "outputs": [{"name": "x", "parameters": []}]}).encode(), 400),
    ("BYTES with a number", _tensor(datatype="BYTES", shape=[2], data=["a", 1]), 422),
    ("shape of booleans", _tensor(shape=[True, True], data=[[1.0, 2.0]]), 400),
    ("FP32 beyond its range", _tensor(data=[1.0, 1e300]), 422),
    ("declared size bomb", _tensor(datatype="FP64", shape=[10**9, 10**9], data=[]), 413),
    ("input parameters a string", _tensor(parameters="x"), 400),
]  # fmt: skip


@pytest.mark.parametrize(("what", "body", "status"), HARDENED, ids=[b[0] for b in HARDENED])
async def test_hostile_body_is_a_4xx_problem_and_not_enqueued(
    what: str, body: bytes, status: int, add_model: AddModel, router: RunningRouter,
    http: aiohttp.ClientSession, aredis: aioredis.Redis,
) -> None:  # fmt: skip
    await add_model("m", "echo")
    got, doc = await _post(http, f"{router.url}/v2/models/m/infer", body)
    assert got == status, doc
    assert await aredis.xlen(keys.request_stream("m")) == 0


def test_bytes_tensor_does_not_amplify_memory() -> None:
    """One long string among many empty ones: numpy's inferred fixed-width unicode array
    would take count x longest x 4 bytes (here 200 MB); validation must stay near the body size."""
    import tracemalloc

    from forescale.router.validate import parse_infer

    data = ["a" * 100_000] + [""] * 500
    body = json.dumps({"inputs": [{"name": "x", "datatype": "BYTES", "shape": [len(data)], "data": data}]})
    tracemalloc.start()
    try:
        parse_infer(body.encode())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, peak  # numpy's inference: 501 x 100,000 x 4 = 200 MB


def _binary_one(dtype: str, shape: list[int], raw: bytes, **params: Any) -> tuple[bytes, int]:
    t = {
        "name": "x",
        "datatype": dtype,
        "shape": shape,
        "parameters": {"binary_data_size": len(raw), **params},
    }
    head = json.dumps({"inputs": [t]}).encode()
    return head + raw, len(head)


def _bytes_elems(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(b)) + b for b in items)


BINARY_BAD = [
    ("FP64 infinity", "FP64", [2], struct.pack("<2d", 1.0, math.inf)),
    ("FP32 NaN", "FP32", [1], struct.pack("<f", math.nan)),
    ("BYTES not UTF-8", "BYTES", [1], _bytes_elems(b"\xff\xfe\x00\x80")),
    ("BYTES length past the data", "BYTES", [1], struct.pack("<I", 100) + b"abc"),
    ("BOOL byte 2", "BOOL", [2], b"\x01\x02"),
]


@pytest.mark.parametrize(("what", "dtype", "shape", "raw"), BINARY_BAD, ids=[b[0] for b in BINARY_BAD])
async def test_binary_that_cannot_be_carried_is_refused(
    what: str, dtype: str, shape: list[int], raw: bytes, add_model: AddModel, router: RunningRouter,
    http: aiohttp.ClientSession, aredis: aioredis.Redis,
) -> None:  # fmt: skip
    await add_model("m", "echo")
    body, head = _binary_one(dtype, shape, raw)
    got, doc = await _post(
        http, f"{router.url}/v2/models/m/infer", body, headers={"Inference-Header-Content-Length": str(head)}
    )
    assert got == 422, doc
    assert await aredis.xlen(keys.request_stream("m")) == 0


async def test_binary_input_parameters_not_an_object_is_400(
    add_model: AddModel, router: RunningRouter, http: aiohttp.ClientSession, aredis: aioredis.Redis
) -> None:
    await add_model("m", "echo")
    for params in ([], "x"):
        t = {"name": "x", "datatype": "FP32", "shape": [1], "parameters": params}
        head = json.dumps({"inputs": [t]}).encode()
        got, _ = await _post(http, f"{router.url}/v2/models/m/infer", head + b"\0\0\0\0",
                             headers={"Inference-Header-Content-Length": str(len(head))})  # fmt: skip
        assert got == 400
    assert await aredis.xlen(keys.request_stream("m")) == 0


async def test_binary_round_trip_is_byte_identical(
    redis_url: str, add_model: AddModel, router: RunningRouter, http: aiohttp.ClientSession
) -> None:
    await add_model("m", "echo")
    w = await start_worker(redis_url, "m")
    tensors = {
        "f64": ("FP64", struct.pack("<4d", -0.0, 5e-324, 1.7976931348623157e308, 0.1)),
        "f16": ("FP16", struct.pack("<2e", 65504.0, -6e-8)),
        "i64": ("INT64", struct.pack("<2q", -(2**63), 2**63 - 1)),
        "u64": ("UINT64", struct.pack("<Q", 2**64 - 1)),
        "txt": ("BYTES", _bytes_elems("héllo ✓".encode(), b"", b"\x00nul")),
        "b": ("BOOL", b"\x00\x01"),
    }
    counts = {"FP64": 4, "FP16": 2, "INT64": 2, "UINT64": 1, "BYTES": 3, "BOOL": 2}
    inputs = [{"name": n, "datatype": d, "shape": [counts[d]], "parameters": {"binary_data_size": len(r)}}
              for n, (d, r) in tensors.items()]  # fmt: skip
    head = json.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}}).encode()
    body = head + b"".join(r for _, r in tensors.values())
    try:
        hdr = {"Inference-Header-Content-Length": str(len(head))}
        async with http.post(f"{router.url}/v2/models/m/infer", data=body, headers=hdr) as resp:
            assert resp.status == 200, await resp.text()
            out = await resp.read()
            n = int(resp.headers["Inference-Header-Content-Length"])
    finally:
        await w.stop()
    doc, at = json.loads(out[:n]), n
    got = {}
    for o in doc["outputs"]:
        size = o["parameters"]["binary_data_size"]
        got[o["name"]] = out[at : at + size]
        at += size
    assert got == {name: raw for name, (_, raw) in tensors.items()}


async def test_router_auth_comes_before_routing(
    redis_url: str, add_model: AddModel, http: aiohttp.ClientSession, aredis: aioredis.Redis
) -> None:
    await add_model("m", "echo")
    rt = await start_router(redis_url, auth_token="s3cret")
    try:
        statuses = {}
        for path in ("/v2/models/m", "/v2/models/nope", "/v2/models/m/ready", "/v2/models/nope/ready",
                     "/metrics", "/v2", "/no/such/route"):  # fmt: skip
            async with http.get(f"{rt.url}{path}") as resp:
                statuses[path] = resp.status
        async with http.post(f"{rt.url}/v2/models/nope/infer", json=infer_body([1.0])) as resp:
            statuses["infer nope"] = resp.status
        async with http.get(f"{rt.url}/v2/health/live") as resp:
            live = resp.status
        async with http.get(f"{rt.url}/v2/models/m", headers={"Authorization": "bearer s3cret"}) as resp:
            lower = resp.status
    finally:
        await rt.stop()
    assert set(statuses.values()) == {401}, statuses
    assert (live, lower) == (200, 200)


async def test_invalid_registry_entry_is_a_4xx_problem(
    router: RunningRouter, http: aiohttp.ClientSession, aredis: aioredis.Redis
) -> None:
    await aredis.hset(keys.MODELS, "bad", json.dumps({"name": "bad", "engine": "nope"}))
    got, doc = await _post(http, f"{router.url}/v2/models/bad/infer", infer_body([1.0]))
    assert got == 409 and "invalid" in doc["detail"]
    async with http.get(f"{router.url}/v2/models/bad") as resp:
        assert resp.status == 409 and resp.content_type == "application/problem+json"
