"""Router + worker + real Redis, through HTTP and through a real Triton client."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import numpy as np
import redis.asyncio as aioredis
import tritonclient.http as triton

from forescale import keys
from forescale.queue.config import ModelConfig

from .conftest import RunningRouter, infer_body, start_worker

AddModel = Callable[..., Awaitable[ModelConfig]]


async def test_infer_round_trip_echoes_id_and_filters_outputs(
    redis_url: str, add_model: AddModel, router: RunningRouter, http: aiohttp.ClientSession
) -> None:
    await add_model("m", "echo")
    w = await start_worker(redis_url, "m")
    try:
        body = infer_body([1.5, 2.5], req_id="abc")
        body["inputs"].append({"name": "y", "datatype": "INT32", "shape": [2, 2], "data": [[1, 2], [3, 4]]})
        async with http.post(f"{router.url}/v2/models/m/infer", json=body) as resp:
            assert resp.status == 200
            doc = await resp.json()
        assert doc["id"] == "abc" and doc["model_name"] == "m"
        assert {o["name"]: o["data"] for o in doc["outputs"]} == {"x": [1.5, 2.5], "y": [1, 2, 3, 4]}
        assert [o["shape"] for o in doc["outputs"]] == [[2], [2, 2]]
        body["outputs"] = [{"name": "y"}]
        async with http.post(f"{router.url}/v2/models/m/infer", json=body) as resp:
            doc = await resp.json()
        assert [o["name"] for o in doc["outputs"]] == ["y"] and doc["outputs"][0]["datatype"] == "INT32"
    finally:
        await w.stop()


def _triton_infer(url: str) -> tuple[np.ndarray, str | None, bool, bool]:
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    try:
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        inp = triton.InferInput("INPUT0", [2, 3], "FP32")
        inp.set_data_from_numpy(x, binary_data=False)
        out = triton.InferRequestedOutput("INPUT0", binary_data=False)
        res = client.infer("m", [inp], outputs=[out], request_id="t-1")
        return res.as_numpy("INPUT0"), res.get_response().get("id"), client.is_server_ready(), \
            client.is_model_ready("m")  # fmt: skip
    finally:
        client.close()


async def test_triton_http_client_gets_correct_outputs(
    redis_url: str, add_model: AddModel, router: RunningRouter
) -> None:
    await add_model("m", "echo")
    w = await start_worker(redis_url, "m")
    try:
        got, req_id, server_ready, model_ready = await asyncio.to_thread(_triton_infer, router.url)
    finally:
        await w.stop()
    np.testing.assert_array_equal(got, np.arange(6, dtype=np.float32).reshape(2, 3))
    assert req_id == "t-1" and server_ready and model_ready


def _triton_binary(url: str) -> dict[str, np.ndarray]:
    """tritonclient with its defaults: binary tensors in, binary outputs back."""
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    try:
        a = triton.InferInput("A", [2, 2], "INT32")
        a.set_data_from_numpy(np.array([[1, -2], [3, 4]], dtype=np.int32))
        s = triton.InferInput("S", [2], "BYTES")
        s.set_data_from_numpy(np.array([b"hello", b"v2"], dtype=np.object_))
        h = triton.InferInput("H", [3], "FP16")
        h.set_data_from_numpy(np.array([0.5, 1.5, -2.0], dtype=np.float16))
        res = client.infer("m", [a, s, h])
        mixed = client.infer("m", [a, h], outputs=[triton.InferRequestedOutput("A", binary_data=False),
                                                    triton.InferRequestedOutput("H")])  # fmt: skip
        return {"A": res.as_numpy("A"), "S": res.as_numpy("S"), "H": res.as_numpy("H"),
                "A_json": mixed.as_numpy("A"), "H_bin": mixed.as_numpy("H")}  # fmt: skip
    finally:
        client.close()


async def test_triton_client_defaults_use_the_binary_extension(
    redis_url: str, add_model: AddModel, router: RunningRouter
) -> None:
    await add_model("m", "echo")
    w = await start_worker(redis_url, "m")
    try:
        got = await asyncio.to_thread(_triton_binary, router.url)
    finally:
        await w.stop()
    np.testing.assert_array_equal(got["A"], [[1, -2], [3, 4]])
    assert got["A"].dtype == np.int32
    assert [bytes(x) for x in got["S"]] == [b"hello", b"v2"]
    np.testing.assert_array_equal(got["H"], np.array([0.5, 1.5, -2.0], dtype=np.float16))
    np.testing.assert_array_equal(got["A_json"], [[1, -2], [3, 4]])
    np.testing.assert_array_equal(got["H_bin"], np.array([0.5, 1.5, -2.0], dtype=np.float16))


async def test_health_metadata_and_model_readiness(
    redis_url: str, add_model: AddModel, router: RunningRouter, http: aiohttp.ClientSession
) -> None:
    await add_model("m", "echo")

    async def get(path: str) -> tuple[int, Any]:
        async with http.get(router.url + path) as resp:
            return resp.status, await resp.json(content_type=None)

    assert (await get("/v2/health/live"))[0] == 200
    assert (await get("/v2/health/ready"))[0] == 200
    assert (await get("/v2"))[1]["name"] == "forescale"
    assert (await get("/v2/models/m"))[1]["name"] == "m"
    assert (await get("/v2/models/nope"))[0] == 404
    assert (await get("/v2/models/m/ready"))[0] == 503  # no worker yet
    w = await start_worker(redis_url, "m")
    try:
        assert (await get("/v2/models/m/ready"))[0] == 200
    finally:
        await w.stop()
    assert (await get("/v2/models/m/ready"))[0] == 503  # it left on drain


async def test_concurrent_requests_are_batched_and_all_answered(
    redis_url: str, add_model: AddModel, router: RunningRouter, http: aiohttp.ClientSession,
    aredis: aioredis.Redis,
) -> None:  # fmt: skip
    await add_model("m", "echo", max_batch=16, max_wait_ms=20)
    w = await start_worker(redis_url, "m")

    async def one(i: int) -> float:
        async with http.post(f"{router.url}/v2/models/m/infer", json=infer_body([float(i)])) as resp:
            assert resp.status == 200
            return float((await resp.json())["outputs"][0]["data"][0])

    try:
        got = await asyncio.gather(*(one(i) for i in range(64)))
        batches = w.worker.metrics.batch_size.collect()[0].samples
    finally:
        await w.stop()
    assert got == [float(i) for i in range(64)]
    count = next(s.value for s in batches if s.name.endswith("_count"))
    assert count < 64  # some batches held more than one request
    assert await aredis.xlen(keys.request_stream("m")) == 0
    await router.state.heartbeat()
    arrivals = [int(await aredis.get(k)) for k in await aredis.keys(keys.arrivals("m", 0)[:-1] + "*")]
    assert sum(arrivals) == 64


async def test_metrics_endpoints_expose_the_contract_names(
    redis_url: str, add_model: AddModel, router: RunningRouter, http: aiohttp.ClientSession
) -> None:
    await add_model("m", "echo")
    w = await start_worker(redis_url, "m")
    try:
        async with http.post(f"{router.url}/v2/models/m/infer", json=infer_body([1.0])) as resp:
            assert resp.status == 200
        await router.state.heartbeat()
        async with http.get(f"{router.url}/metrics") as resp:
            router_text = await resp.text()
        async with http.get(f"{w.url}/metrics") as resp:
            worker_text = await resp.text()
    finally:
        await w.stop()
    for line in (
        'forescale_router_requests_total{code="200",model="m"} 1.0',
        'forescale_router_admitted_total{model="m"} 1.0',
        'forescale_router_request_duration_seconds_count{model="m"} 1.0',
        'forescale_queue_depth{model="m"} 0.0',
    ):
        assert line in router_text
    for text in (router_text, worker_text):  # the exposition passes Prometheus' own linter
        lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr
    for name in (  # every worker metric carries the model label
        "forescale_worker_batch_size_count 1.0", "forescale_worker_inference_seconds_count 1.0",
        "forescale_worker_queue_wait_seconds_count 1.0", "forescale_worker_busy_ratio",
        "forescale_worker_reclaimed_total 0.0", "forescale_worker_dead_lettered_total 0.0",
        "forescale_worker_ready 1.0",
    ):  # fmt: skip
        metric, _, value = name.partition(" ")
        assert f'{metric}{{model="m"}} {value}'.strip() in worker_text


async def test_transformer_model_through_the_queue_matches_the_engine(
    redis_url: str, add_model: AddModel, router: RunningRouter, http: aiohttp.ClientSession
) -> None:
    from forescale.worker import engines

    opts = {"d_model": 32, "layers": 1, "max_len": 32, "threads": 1}
    await add_model("t", "transformer", engine_options=opts, max_batch=8, max_wait_ms=10)
    w = await start_worker(redis_url, "t")
    seqs = [list(range(1, 1 + n)) for n in (3, 9, 17, 30)]
    try:

        async def one(ids: list[int]) -> list[float]:
            body = {"inputs": [{"name": "input_ids", "datatype": "INT64", "shape": [len(ids)], "data": ids}]}
            async with http.post(f"{router.url}/v2/models/t/infer", json=body) as resp:
                assert resp.status == 200
                [out] = (await resp.json())["outputs"]
            assert out["name"] == "embedding" and out["shape"] == [32] and out["datatype"] == "FP32"
            return list(out["data"])

        got = await asyncio.gather(*(one(s) for s in seqs))
        body = {"inputs": [{"name": "input_ids", "datatype": "FP32", "shape": [2], "data": [1, 2]}]}
        async with http.post(f"{router.url}/v2/models/t/infer", json=body) as resp:
            bad = resp.status, await resp.json(content_type=None)
    finally:
        await w.stop()
    ref = engines.create("transformer", opts)
    ref.load()
    for s, g in zip(seqs, got, strict=True):
        np.testing.assert_allclose(g, ref.infer([{"input_ids": np.array(s)}])[0]["embedding"], atol=1e-5)
    assert bad[0] == 400 and "input_ids" in bad[1]["detail"]
