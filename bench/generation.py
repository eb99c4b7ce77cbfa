"""Benchmark: LLM generation with the ``llm`` engine, on this machine's CPU (or GPU).

Output lengths are drawn from the Azure LLM inference trace (conversation, 2023) when
``../shared/traces/azure_llm_2023_conv.csv.gz`` is present (halved and clipped to fit a
small model's context), else from a fixed synthetic mix. Figures:

- generated tokens/s at saturation (every request submitted at once) with continuous
  batching, with static batching (a batch runs until its longest sequence ends) and one
  sequence at a time, all on the engine called directly;
- the same load through router + Redis + worker process (``/v1/completions``) against
  the engine called directly (the limit);
- time to first token and inter-token latency, p50 and p99, measured by the client at a
  fixed Poisson arrival rate (half the saturation rate), through the queue.

The last line is one JSON object. Bounded: well under 3 minutes with the defaults.

    .venv/bin/python bench/generation.py [--requests 48] [--latency-s 20]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from forescale.devstack.ports import free_port
from forescale.devstack.redis_server import RedisServer
from forescale.queue import registry
from forescale.queue.config import ModelConfig
from forescale.router.app import create_app
from forescale.router.settings import RouterSettings
from forescale.worker.engines.llm import LLMEngine, SamplingParams

TRACE = Path(__file__).resolve().parents[1] / ".." / "shared" / "traces" / "azure_llm_2023_conv.csv.gz"
OPTS: dict[str, Any] = {"layers": 2, "d_model": 64, "heads": 4, "kv_heads": 2, "max_context": 512,
                        "max_running": 32, "step_tokens": 512}  # fmt: skip
MAX_OUT = 256


def output_lengths(n: int, rng: random.Random) -> tuple[list[int], str]:
    for path in (TRACE, Path("/work/shared/traces/azure_llm_2023_conv.csv.gz")):
        if path.exists():
            with gzip.open(path, "rt") as f:
                gen = [int(r["GeneratedTokens"]) for r in csv.DictReader(f)]
            return [max(4, min(MAX_OUT, rng.choice(gen) // 2)) for _ in range(n)], "azure_llm_2023_conv"
    mix = [8] * 4 + [32] * 3 + [96] * 2 + [256]
    return [rng.choice(mix) for _ in range(n)], "synthetic"


def prompts(n: int) -> list[str]:
    return [f"Request {i}: tell me a story about the number {i * 7919 % 1000}." for i in range(n)]


def run_engine(lengths: list[int], **over: Any) -> float:
    """Generated tokens/s with every request submitted at once."""
    e = LLMEngine(**{**OPTS, **over})
    e.load()
    e.warm_up()
    for i, (p, n) in enumerate(zip(prompts(len(lengths)), lengths, strict=True)):
        e.add(str(i), e.encode_prompt(p), SamplingParams(max_tokens=n, ignore_eos=True, seed=i), [])
    t0, toks = time.perf_counter(), 0
    while e.scheduler.has_work():
        toks += sum(len(o.tokens) for o in e.step())
    return toks / (time.perf_counter() - t0)


async def _one(http: aiohttp.ClientSession, url: str, i: int, n: int, stream: bool) -> dict[str, Any]:
    doc = {"model": "llm", "prompt": prompts(i + 1)[i], "max_tokens": n, "ignore_eos": True, "seed": i,
           "stream": stream}  # fmt: skip
    t0 = time.perf_counter()
    async with http.post(url, json=doc, headers={"X-Request-Timeout": "120"}) as resp:
        if not stream:
            body = await resp.json()
            return {"tokens": body["usage"]["completion_tokens"]}
        stamps = []
        async for raw in resp.content:
            if raw.startswith(b"data: {"):
                stamps.append(time.perf_counter())
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return {"ttft": stamps[0] - t0, "itl": gaps, "tokens": len(stamps)}


async def through_queue(lengths: list[int], latency_s: float, tmp: Path) -> dict[str, Any]:
    server = RedisServer(port=free_port(), data_dir=tmp / "redis")
    server.data_dir.mkdir(parents=True)
    with server:
        r = aioredis.Redis.from_url(server.url)
        await registry.add(r, ModelConfig(name="llm", engine="llm", engine_options=OPTS, max_batch=32,
                                          queue_limit=10_000))  # fmt: skip
        env = {**os.environ, "FORESCALE_REDIS_URL": server.url, "FORESCALE_WORKER_BLOCK_MS": "20"}
        worker = subprocess.Popen([sys.executable, "-m", "forescale.worker", "--model", "llm", "--port",
                                   str(free_port())], env=env, stderr=subprocess.DEVNULL)  # fmt: skip
        port = free_port()
        runner = web.AppRunner(create_app(RouterSettings(redis_url=server.url, port=port)), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"http://127.0.0.1:{port}/v1/completions"
        try:
            while not any(b'"ready"' in v for v in (await r.hgetall("fs:workers:llm")).values()):
                await asyncio.sleep(0.2)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as http:
                t0 = time.perf_counter()
                res = await asyncio.gather(*(_one(http, url, i, n, False) for i, n in enumerate(lengths)))
                wall = time.perf_counter() - t0
                queue_tps = sum(x["tokens"] for x in res) / wall
                rate = 0.5 * len(lengths) / wall  # half the saturation request rate
                rng, calls, t_end = random.Random(1), [], time.perf_counter() + latency_s
                i = 0
                while time.perf_counter() < t_end:
                    calls.append(asyncio.create_task(_one(http, url, i, lengths[i % len(lengths)], True)))
                    i += 1
                    await asyncio.sleep(rng.expovariate(rate))
                lat = await asyncio.gather(*calls)
        finally:
            await runner.cleanup()
            worker.terminate()
            worker.wait(30)
            await r.aclose()
    ttft = sorted(x["ttft"] for x in lat)
    itl = sorted(g for x in lat for g in x["itl"])
    return {"queue_tokens_per_s": queue_tps, "arrival_rate_per_s": rate, "latency_requests": len(lat),
            "ttft_p50_ms": 1000 * _q(ttft, 0.5), "ttft_p99_ms": 1000 * _q(ttft, 0.99),
            "itl_p50_ms": 1000 * _q(itl, 0.5), "itl_p99_ms": 1000 * _q(itl, 0.99)}  # fmt: skip


def _q(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=48)
    ap.add_argument("--latency-s", type=float, default=20.0)
    ap.add_argument("--tmp", type=Path, default=Path("/tmp") / f"fs-bench-gen-{os.getpid()}")
    a = ap.parse_args()
    lengths, source = output_lengths(a.requests, random.Random(0))
    print(f"{a.requests} requests, output lengths from {source}: median {statistics.median(lengths)}, "
          f"max {max(lengths)}, total {sum(lengths)}")  # fmt: skip
    out: dict[str, Any] = {"requests": a.requests, "lengths_from": source}
    out["continuous_tokens_per_s"] = run_engine(lengths)
    out["static_tokens_per_s"] = run_engine(lengths, static_batching=True)
    out["sequential_tokens_per_s"] = run_engine(lengths[:12], max_running=1)
    out["direct_tokens_per_s"] = out["continuous_tokens_per_s"]  # the same engine, called directly
    for k in ("continuous", "static", "sequential"):
        print(f"{k:>10}: {out[k + '_tokens_per_s']:8.1f} generated tokens/s (engine called directly)")
    out |= asyncio.run(through_queue(lengths, a.latency_s, a.tmp))
    out["continuous_over_static"] = out["continuous_tokens_per_s"] / out["static_tokens_per_s"]
    out["queue_over_direct"] = out["queue_tokens_per_s"] / out["direct_tokens_per_s"]
    print(
        f"     queue: {out['queue_tokens_per_s']:8.1f} generated tokens/s (router + Redis + worker process)"
    )
    print(
        f"at {out['arrival_rate_per_s']:.2f} req/s: TTFT p50 {out['ttft_p50_ms']:.1f} ms p99 "
        f"{out['ttft_p99_ms']:.1f} ms, ITL p50 {out['itl_p50_ms']:.1f} ms p99 {out['itl_p99_ms']:.1f} ms"
    )
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}))


if __name__ == "__main__":
    main()
