"""Graceful router shutdown with open generations: the official ``openai`` client, a real
router (in-process, and the real CLI process under SIGTERM), a real ``llm`` worker and
the session's real Redis. Pass criteria in each docstring."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import openai
import orjson
import pytest
from openai import AsyncOpenAI

from forescale.devstack.ports import free_port
from forescale.queue.config import ModelConfig
from forescale.router.drain import drain

from .conftest import post_value, start_router, start_worker, wait_for
from .llm_support import OPTS, reference

AddModel = Callable[..., Awaitable[ModelConfig]]
PROMPT = "stream 0: once upon a time"


async def _refused(client: AsyncOpenAI) -> None:
    """A new request, streaming or not, gets a 503 (InternalServerError), never a hang."""
    with pytest.raises(openai.InternalServerError) as whole:
        await client.completions.create(model="tiny", prompt="hi", max_tokens=4)
    with pytest.raises(openai.InternalServerError) as streamed:
        await client.completions.create(model="tiny", prompt="hi", max_tokens=4, stream=True)
    assert whole.value.status_code == streamed.value.status_code == 503
    assert "shutting down" in str(whole.value)


async def test_open_stream_finishes_within_the_grace(
    redis_url: str, add_model: AddModel, http: aiohttp.ClientSession
) -> None:
    """Pass: a stream open when the drain starts completes with the uninterrupted text;
    while it runs, new requests get 503 and readiness is 503."""
    await add_model("tiny", engine="llm", engine_options=OPTS)
    w = await start_worker(redis_url, "tiny", block_ms=50)
    rt = await start_router(redis_url, shutdown_grace_s=60)
    client = AsyncOpenAI(base_url=rt.url + "/v1", api_key="unused", max_retries=0)
    try:
        stream = await client.completions.create(
            model="tiny", prompt=PROMPT, max_tokens=60, seed=1000, temperature=0.9, stream=True,
            extra_body={"ignore_eos": True},
        )  # fmt: skip
        it = aiter(stream)
        text = (await anext(it)).choices[0].text
        # What run_app does on SIGTERM: drain while the site still listens.
        draining = asyncio.create_task(drain(rt.runner.app))
        await wait_for(lambda: not rt.state.accepting, 5, "drain started")
        await _refused(client)
        async with http.get(f"{rt.url}/readyz") as resp:
            assert resp.status == 503
        assert not draining.done()  # the stream holds the drain open
        finish = None
        async for chunk in it:
            text += chunk.choices[0].text
            finish = chunk.choices[0].finish_reason
        await draining
    finally:
        await client.close()
        await rt.stop()
        await w.stop()
    body = {"prompt": PROMPT, "max_tokens": 60, "temperature": 0.9, "seed": 1000}
    assert finish == "length"
    assert text == (await asyncio.to_thread(reference, [body]))[0]


async def _spawn_router(redis_url: str, grace_s: float, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "FORESCALE_REDIS_URL": redis_url, "FORESCALE_ROUTER_SHUTDOWN_GRACE_S": str(grace_s)}
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "forescale.router", "--port", str(port)], env=env,
                                stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
    return proc, f"http://127.0.0.1:{port}"


async def _status(http: aiohttp.ClientSession, url: str) -> int:
    try:
        async with http.get(url) as resp:
            return resp.status
    except aiohttp.ClientConnectionError:
        return 0


async def test_sigterm_ends_what_outlasts_the_grace_and_frees_the_kv_cache(
    redis_url: str, add_model: AddModel, http: aiohttp.ClientSession, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """Pass: the real router process gets SIGTERM with a 0.5 s grace while a stream and a
    non-streaming completion of 480 tokens each run: new requests get 503 during the
    drain; the stream ends with an error event (the client raises APIError, no hang),
    the other with a 503 error object; the worker cancels both (KV usage back to 0,
    far fewer than 960 tokens generated); the router exits 0."""
    await add_model("tiny", engine="llm", engine_options=OPTS)
    w = await start_worker(redis_url, "tiny", block_ms=50)
    gw = w.worker
    caplog.set_level(logging.INFO, logger="forescale.worker.generate")
    proc, url = await _spawn_router(redis_url, 0.5, tmp_path / "router.log")
    client = AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    try:
        for _ in range(300):
            if await _status(http, f"{url}/readyz") == 200:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("router not ready: " + (tmp_path / "router.log").read_text())
        long = {"model": "tiny", "prompt": PROMPT, "max_tokens": 480, "extra_body": {"ignore_eos": True}}
        whole = asyncio.create_task(client.completions.create(**long))  # type: ignore[call-overload]
        stream = await client.completions.create(**long, stream=True)  # type: ignore[call-overload]
        it = aiter(stream)
        for _ in range(3):
            await anext(it)
        await wait_for(lambda: len(gw.llm.scheduler.running) == 2, 10, "both sequences running")  # type: ignore[attr-defined]
        proc.send_signal(signal.SIGTERM)
        for _ in range(200):  # readiness turns 503 once the drain started
            if await _status(http, f"{url}/readyz") == 503:
                break
            await asyncio.sleep(0.02)
        await _refused(client)
        with pytest.raises(openai.APIError) as ended:
            async for _ in it:
                pass
        assert "shut down" in str(ended.value)
        with pytest.raises(openai.InternalServerError) as ended_whole:
            await whole
        assert ended_whole.value.status_code == 503
        assert await asyncio.to_thread(proc.wait, 30) == 0
        await wait_for(lambda: gw.llm.kv_usage() == 0, 10, "KV usage back to idle")  # type: ignore[attr-defined]
        await wait_for(lambda: not gw.inflight, 10, "entries acked")
    finally:
        await client.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        await w.stop()
    assert gw.gm.generated_tokens._value.get() < 900  # type: ignore[attr-defined]
    cancelled = [r for r in caplog.records if "cancelled by its client" in r.getMessage()]
    assert len(cancelled) == 2  # through the cancel flag, not run to the end


async def test_cleanup_alone_ends_kserve_stream_and_v2_request(
    redis_url: str, add_model: AddModel, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """Pass: a runner cleaned up without run_app (on_shutdown drains) with a 0.3 s grace:
    a KServe generate_stream open at the time ends with an error event (status 503) and
    its sequence is cancelled; a v2 infer waiting on a 1.5 s model gets a 503 problem."""
    await add_model("tiny", engine="llm", engine_options=OPTS)
    await add_model("slow", "sleep", engine_options={"base_ms": 1500})
    gen_w = await start_worker(redis_url, "tiny", block_ms=50)
    slow_w = await start_worker(redis_url, "slow")
    caplog.set_level(logging.INFO, logger="forescale.worker.generate")
    rt = await start_router(redis_url, shutdown_grace_s=0.3)
    try:
        doc = {"text_input": PROMPT, "parameters": {"max_tokens": 480, "ignore_eos": True}}
        resp = await http.post(f"{rt.url}/v2/models/tiny/generate_stream", json=doc)
        infer = asyncio.create_task(post_value(http, f"{rt.url}/v2/models/slow/infer", 1.0, timeout_s=20))
        await wait_for(lambda: rt.state.replies.pending == 1, 10, "v2 request in flight")
        events = [orjson.loads((await resp.content.readline())[6:])]
        await rt.stop()
        async for raw in resp.content:
            if raw.startswith(b"data: "):
                events.append(orjson.loads(raw[6:]))
        resp.release()
        status, problem = await infer
        await wait_for(lambda: gen_w.worker.llm.kv_usage() == 0, 10, "KV usage back to idle")  # type: ignore[attr-defined]
    finally:
        await gen_w.stop()
        await slow_w.stop()
    assert (
        events[0]["finish_reason"] is None
        and events[-1]["status"] == 503
        and "shut down" in events[-1]["error"]
    )
    assert (status, problem["status"]) == (503, 503)
    # the stream's headers said 200; the SLO counts the error that ended it
    requests = {"model": "tiny", "code": "503"}
    assert rt.state.metrics.registry.get_sample_value("forescale_router_requests_total", requests) == 1
    assert any("cancelled by its client" in r.getMessage() for r in caplog.records)
