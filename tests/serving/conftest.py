"""Fixtures for the serving tests: routers and workers on the real session Redis.

Routers and workers run in-process (aiohttp runners on free ports) unless a test is
about processes (kill -9, SIGTERM): then ``spawn_worker`` starts the real CLI.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from forescale.devstack.ports import free_port
from forescale.queue import heartbeat, registry
from forescale.queue.config import ModelConfig
from forescale.router.app import create_app as create_router
from forescale.router.handlers import ROUTER
from forescale.router.settings import RouterSettings
from forescale.router.state import Router
from forescale.worker.app import WORKER
from forescale.worker.app import create_app as create_worker
from forescale.worker.loop import Worker
from forescale.worker.settings import WorkerSettings


class RunningRouter:
    def __init__(self, runner: web.AppRunner, port: int) -> None:
        self.runner = runner
        self.url = f"http://127.0.0.1:{port}"
        self.state: Router = runner.app[ROUTER]

    async def stop(self) -> None:
        await self.runner.cleanup()


class RunningWorker:
    def __init__(self, runner: web.AppRunner, port: int) -> None:
        self.runner = runner
        self.url = f"http://127.0.0.1:{port}"
        self.worker: Worker = runner.app[WORKER]

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_router(redis_url: str, **overrides: Any) -> RunningRouter:
    port = free_port()
    settings = RouterSettings(redis_url=redis_url, port=port, **overrides)
    runner = web.AppRunner(create_router(settings), handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return RunningRouter(runner, port)


async def start_worker(redis_url: str, model: str, **overrides: Any) -> RunningWorker:
    port = free_port()
    settings = WorkerSettings(redis_url=redis_url, model=model, port=port, **overrides)
    runner = web.AppRunner(create_worker(settings), handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    w = RunningWorker(runner, port)
    await wait_for(lambda: w.worker.state == "ready", 30)
    return w


async def wait_for(cond: Callable[[], bool], timeout_s: float, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"{what} not reached within {timeout_s} s")
        await asyncio.sleep(0.02)


class SpawnedWorker:
    """The real ``forescale worker`` CLI as a child process (stderr to a file)."""

    def __init__(self, redis_url: str, model: str, worker_id: str, log_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.worker_id = worker_id
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, "FORESCALE_REDIS_URL": redis_url, "FORESCALE_WORKER_WORKER_ID": worker_id,
                    **env}  # fmt: skip
        args = [sys.executable, "-m", "forescale.worker", "--model", model, "--port", str(self.port)]
        self.log = log_dir / f"worker-{worker_id}.log"
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(args, env=full_env, stdout=subprocess.DEVNULL, stderr=err)

    async def metric(self, http: aiohttp.ClientSession, name: str) -> float:
        async with http.get(f"{self.url}/metrics") as resp:
            text = await resp.text()
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name} not in /metrics")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


async def wait_workers_ready(r: aioredis.Redis, model: str, n: int, timeout_s: float = 30) -> list[int]:
    """Pids of ``n`` ready workers of ``model`` (from their heartbeats)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while True:
        live = await heartbeat.live(r, model, time.time())
        pids = sorted(live.ready_pids)
        if len(pids) >= n:
            return pids
        if loop.time() > end:
            raise AssertionError(f"{n} workers of {model} not ready: {live}")
        await asyncio.sleep(0.05)


def infer_body(values: list[float], name: str = "x", req_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "inputs": [{"name": name, "datatype": "FP32", "shape": [len(values)], "data": values}]
    }
    if req_id is not None:
        body["id"] = req_id
    return body


@pytest.fixture
def add_model(aredis: aioredis.Redis) -> Callable[..., Awaitable[ModelConfig]]:
    async def add(name: str = "m", engine: str = "echo", **fields: Any) -> ModelConfig:
        cfg = ModelConfig(name=name, engine=engine, **fields)
        await registry.add(aredis, cfg)
        return cfg

    return add


@pytest.fixture
async def router(redis_url: str) -> AsyncIterator[RunningRouter]:
    r = await start_router(redis_url)
    yield r
    await r.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s:
        yield s


def read_runs(path: Path) -> list[tuple[float, float, int]]:
    """The engine's run log: (first input value, epoch start, pid) per run."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        v, t, pid = line.split()
        out.append((float(v), float(t), int(pid)))
    return out


async def post_value(
    http: aiohttp.ClientSession, url: str, value: float, timeout_s: float | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"X-Request-Timeout": str(timeout_s)} if timeout_s else {}
    async with http.post(url, json=infer_body([value]), headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)
