"""The interim demo: a real request path on this machine, started and stopped cleanly.

Every process is a child (redis-server, ``forescale router``, ``forescale worker``) and
is stopped on the way out, also after Ctrl-C or an error.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import aiohttp
import numpy as np

from forescale.devstack.ports import free_port, wait_port
from forescale.devstack.redis_server import RedisServer

MODEL = "demo-transformer"
ENGINE_OPTIONS = {"d_model": 64, "nhead": 4, "layers": 2, "ff": 256, "max_len": 64, "threads": 1}


def _spawn(module: str, args: list[str], redis_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FORESCALE_REDIS_URL": redis_url, "FORESCALE_LOG_LEVEL": "WARNING",
           "FORESCALE_ROUTER_SHUTDOWN_GRACE_S": "2", "FORESCALE_WORKER_DRAIN_GRACE_S": "5"}  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", module, *args], env=env)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def _register(redis_url: str) -> None:
    args = ["--redis-url", redis_url, "add", MODEL, "--engine", "transformer", "--max-batch", "16",
            "--max-wait-ms", "5", "--queue-limit", "500", "--timeout-s", "30"]  # fmt: skip
    args += [f"-o{k}={json.dumps(v)}" for k, v in ENGINE_OPTIONS.items()]
    subprocess.run([sys.executable, "-m", "forescale.queue", *args], check=True, stdout=subprocess.DEVNULL)


def _body(rng: np.random.Generator, i: int) -> dict[str, Any]:
    ids = rng.integers(1, 1000, int(rng.integers(4, 64))).tolist()
    return {"id": f"demo-{i}", "inputs": [{"name": "input_ids", "datatype": "INT64", "shape": [len(ids)],
                                            "data": ids}]}  # fmt: skip


async def _wait_ready(http: aiohttp.ClientSession, url: str, timeout_s: float = 120) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            async with http.get(f"{url}/v2/models/{MODEL}/ready") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("the worker did not become ready")


async def _load(url: str, worker_url: str, n: int, concurrency: int) -> None:
    rng = np.random.default_rng(0)
    infer = f"{url}/v2/models/{MODEL}/infer"
    async with aiohttp.ClientSession() as http:
        await _wait_ready(http, url)
        print(f"router {url} ready; worker warmed up ({MODEL}: {ENGINE_OPTIONS})")
        for i in range(3):
            body = _body(rng, i)
            async with http.post(infer, json=body) as resp:
                out = (await resp.json())["outputs"][0]
            head = ", ".join(f"{x:.3f}" for x in out["data"][:4])
            tokens = len(body["inputs"][0]["data"])
            print(
                f"  {body['id']}: {tokens} tokens -> {resp.status} {out['name']} {out['shape']} [{head}, ...]"
            )
        latencies, codes = await _burst(http, infer, rng, n, concurrency)
        async with http.get(f"{url}/metrics") as resp:
            metrics = await resp.text()
        async with http.get(f"{worker_url}/metrics") as resp:
            metrics += await resp.text()
    _report(latencies, codes, metrics, n, concurrency)


async def _burst(http: aiohttp.ClientSession, infer: str, rng: np.random.Generator, n: int,
                 concurrency: int) -> tuple[list[float], dict[int, int]]:  # fmt: skip
    bodies = [_body(rng, i) for i in range(n)]
    latencies: list[float] = []
    codes: dict[int, int] = {}
    sem = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> None:
        async with sem:
            t0 = time.perf_counter()
            async with http.post(infer, json=body) as resp:
                await resp.read()
            latencies.append(time.perf_counter() - t0)
            codes[resp.status] = codes.get(resp.status, 0) + 1

    start = time.perf_counter()
    await asyncio.gather(*(one(b) for b in bodies))
    latencies.append(-(time.perf_counter() - start))  # last: the wall time (negative marks it)
    return latencies, codes


def _report(latencies: list[float], codes: dict[int, int], metrics: str, n: int, concurrency: int) -> None:
    wall = -latencies.pop()
    q = statistics.quantiles(latencies, n=100)
    print(f"{n} requests, {concurrency} concurrent, in {wall:.2f} s = {n / wall:.0f} req/s; status {codes}")
    print(f"latency p50 {q[49] * 1000:.1f} ms, p90 {q[89] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms")
    values = {}
    for line in metrics.splitlines():
        if line.startswith(("forescale_router_admitted_total", "forescale_queue_depth")):
            print(f"  {line}")
        if line.startswith(("forescale_worker_batch_size_sum", "forescale_worker_batch_size_count")):
            name, value = line.split()
            values[name] = float(value)
    batches = values.get("forescale_worker_batch_size_count", 0)
    if batches:
        mean = values["forescale_worker_batch_size_sum"] / batches
        print(f"  worker: {batches:.0f} engine calls, {mean:.1f} requests per batch on average")


def run_demo(requests: int, concurrency: int) -> int:
    procs: list[subprocess.Popen[bytes]] = []
    with RedisServer() as redis:
        try:
            print(f"redis-server on {redis.url} (AOF on, data in {redis.data_dir})")
            _register(redis.url)
            port = free_port()
            procs.append(_spawn("forescale.router", ["--port", str(port)], redis.url))
            wport = free_port()
            procs.append(_spawn("forescale.worker", ["--model", MODEL, "--port", str(wport)], redis.url))
            wait_port(port, 60)
            asyncio.run(_load(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{wport}", requests, concurrency))
        except KeyboardInterrupt:
            print("interrupted: stopping")
        finally:
            _stop(procs)
            print("stopped router, worker and redis-server")
    return 0
