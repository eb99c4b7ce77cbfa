"""Benchmark: the serving path (router + Redis + worker) against its bounds and a peer.

1. Overhead, at a fixed concurrency, the same v2 JSON request through:
   - forescale: router + Redis stream + one ``echo`` worker (separate processes);
   - a bare aiohttp echo server (the upper bound for a Python HTTP hop);
   - the peer a user would otherwise pick: an aiohttp front that submits a Celery task
     (Redis broker + Redis result backend) and waits for its result.
2. Batching with the ``transformer`` engine: throughput at saturation through the queue
   (requests pre-filled into the stream, timed by the reply stream's entry ids) vs the
   engine called directly in a loop at the same batch size (the limit), and vs the
   queue at batch size 1.

The load generator runs in this process; every server is a child process. Its last line
is one JSON object.

    .venv/bin/python bench/serving.py [--concurrency 32] [--seconds 6] [--batch 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from forescale import keys
from forescale.devstack.ports import free_port, wait_port
from forescale.devstack.redis_server import RedisServer
from forescale.queue.heartbeat import Heartbeat

VENV_BIN = Path(sys.executable).parent
BODY = {"id": "b", "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 8], "data": [0.5] * 8}]}
TRANSFORMER: dict[str, Any] = {"nhead": 4, "threads": 1}  # + --d-model, --layers, --seq-len
SEQ_LEN = 64


# --- child-process servers (this file run with --serve ...) -------------------------


def celery_app(url: str) -> Any:
    from celery import Celery

    app = Celery("fsbench", broker=url, backend=url)
    app.conf.update(task_serializer="json", result_serializer="json", worker_hijack_root_logger=False)

    @app.task(name="echo")
    def echo(body: dict[str, Any]) -> dict[str, Any]:
        return {"id": body.get("id"), "outputs": body["inputs"]}

    return app


def serve_http(port: int, celery_url: str | None) -> None:
    """The bare echo server, or (with ``celery_url``) the Celery front."""
    from aiohttp import web

    task = celery_app(celery_url).tasks["echo"] if celery_url else None

    async def infer(request: web.Request) -> web.Response:
        body = await request.json()
        if task is None:
            return web.json_response({"id": body.get("id"), "outputs": body["inputs"]})
        res = task.apply_async(args=[body])
        return web.json_response(await asyncio.to_thread(res.get, timeout=30))

    app = web.Application()
    app.router.add_post("/v2/models/{model}/infer", infer)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=lambda *_: None)


if os.environ.get("FS_BENCH_CELERY_URL"):  # imported by `celery -A serving worker`
    app = celery_app(os.environ["FS_BENCH_CELERY_URL"])


# --- load generation ----------------------------------------------------------------


async def closed_loop(url: str, concurrency: int, seconds: float, warmup_s: float = 1.0) -> dict[str, float]:
    """``concurrency`` clients, each sending the next request when the last returns."""
    lat: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from, end = start + warmup_s, start + warmup_s + seconds

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal errors
        while (t0 := loop.time()) < end:
            async with http.post(url, json=BODY) as resp:
                await resp.read()
                ok = resp.status == 200
            if t0 >= measure_from and ok:
                lat.append(loop.time() - t0)
            elif t0 >= measure_from:
                errors += 1

    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    lat.sort()
    q = statistics.quantiles(lat, n=100) if len(lat) > 2 else [float("nan")] * 99
    return {"rps": len(lat) / seconds, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000, "errors": errors}


def spawn(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    full = {**os.environ, "FORESCALE_LOG_LEVEL": "WARNING", **(env or {})}
    return subprocess.Popen(args, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def add_model(redis_url: str, name: str, engine: str, opts: dict[str, Any], max_batch: int) -> None:
    args = [
        sys.executable,
        "-m",
        "forescale.queue",
        "--redis-url",
        redis_url,
        "add",
        name,
        "--engine",
        engine,
    ]
    args += ["--max-batch", str(max_batch), "--max-wait-ms", "2", "--queue-limit", "100000"]
    args += [f"-o{k}={json.dumps(v)}" for k, v in opts.items()]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def _beat(item: tuple[bytes, bytes]) -> Heartbeat | None:
    return Heartbeat.decode(item[0].decode(), item[1])


def wait_worker(redis_url: str, model: str, timeout_s: float = 60) -> None:
    import redis

    r = redis.Redis.from_url(redis_url)
    end = time.monotonic() + timeout_s
    while not any(hb and hb.state == "ready" for hb in map(_beat, r.hgetall(keys.workers(model)).items())):
        if time.monotonic() > end:
            raise TimeoutError(f"worker for {model} not ready")
        time.sleep(0.1)
    r.close()


def overhead(redis: RedisServer, concurrency: int, seconds: float) -> dict[str, dict[str, float]]:
    out = {}
    add_model(redis.url, "echo", "echo", {}, 32)
    port = free_port()
    fs_env = {"FORESCALE_REDIS_URL": redis.url}
    procs = [
        spawn([sys.executable, "-m", "forescale.router", "--port", str(port)], fs_env),
        spawn([sys.executable, "-m", "forescale.worker", "--model", "echo", "--port", "0"], fs_env),
    ]
    wait_port(port, 30)
    wait_worker(redis.url, "echo")
    out["forescale"] = asyncio.run(
        closed_loop(f"http://127.0.0.1:{port}/v2/models/echo/infer", concurrency, seconds)
    )
    stop(*procs)

    port = free_port()
    proc = spawn([sys.executable, __file__, "--serve", str(port)])
    wait_port(port, 30)
    out["aiohttp_echo"] = asyncio.run(
        closed_loop(f"http://127.0.0.1:{port}/v2/models/echo/infer", concurrency, seconds)
    )
    stop(proc)

    port = free_port()
    celery_env = {"PYTHONPATH": str(Path(__file__).parent)}
    celery = [str(VENV_BIN / "celery"), "-A", "serving", "worker", "--loglevel", "WARNING"]
    celery += ["--without-heartbeat", "--without-gossip", "--without-mingle"]
    worker = spawn(celery, {**celery_env, "FS_BENCH_CELERY_URL": redis.url})
    front = spawn([sys.executable, __file__, "--serve", str(port), "--celery-url", redis.url])
    wait_port(port, 30)
    out["celery"] = asyncio.run(
        closed_loop(f"http://127.0.0.1:{port}/v2/models/echo/infer", concurrency, seconds)
    )
    stop(front, worker)
    return out


# --- batching -------------------------------------------------------------------------


def sequences(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(1, 1000, SEQ_LEN) for _ in range(n)]


def load_engine() -> Any:
    from forescale.worker import engines

    engine = engines.create("transformer", TRANSFORMER)
    engine.load()
    engine.warm_up()
    return engine


def direct_rps(engine: Any, batch: int, seconds: float) -> tuple[float, float]:
    """The limit: the engine called in a loop on ready-made batches, in a non-main thread
    as in the worker (torch on the main thread measured up to 2x slower here)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_direct_loop, engine, batch, seconds).result()


def _direct_loop(engine: Any, batch: int, seconds: float) -> tuple[float, float]:
    """(requests per wall second, requests per CPU second of this thread)."""
    items = [{"input_ids": s} for s in sequences(batch)]
    done, start, cpu = 0, time.perf_counter(), time.thread_time()
    while time.perf_counter() - start < seconds:
        engine.infer(items)
        done += batch
    return done / (time.perf_counter() - start), done / (time.thread_time() - cpu)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fill_and_time(r: Any, model: str, n: int, pid: int) -> tuple[float, float]:
    """Pre-fill ``n`` requests for a running worker: (requests per wall second from the
    reply-stream ids, Redis' own millisecond clock, skipping the first tenth while the
    pipeline fills; requests per CPU second of the worker process)."""
    from forescale import keys
    from forescale.queue import scripts

    admit = r.register_script(scripts.ADMIT)
    reply_to = keys.reply_stream(f"bench-{uuid.uuid4().hex[:6]}")
    pipe = r.pipeline(transaction=False)
    deadline = int((time.time() + 600) * 1000)
    cpu = cpu_seconds(pid)
    for s in sequences(n):
        doc = {"inputs": [{"name": "input_ids", "datatype": "INT64", "shape": [SEQ_LEN], "data": s.tolist()}]}
        args = [n + 1, uuid.uuid4().hex, reply_to, deadline, json.dumps(doc)]
        admit(keys=[keys.request_stream(model)], args=args, client=pipe)
    pipe.execute()
    while r.xlen(reply_to) < n:
        time.sleep(0.05)
    cpu = cpu_seconds(pid) - cpu
    ids = [int(eid.split(b"-")[0]) for eid, _ in r.xrange(reply_to)]
    r.delete(reply_to)
    skip = n // 10
    return (n - skip - 1) / max(1e-3, (ids[-1] - ids[skip]) / 1000), n / cpu


def batching(redis: RedisServer, engine: Any, batch: int, n: int, rounds: int) -> dict[str, float]:
    """Best of ``rounds`` alternating runs of the direct loop and of one worker draining
    the queue (same engine settings, same batch size): the machine's load drifts."""
    import redis as redis_lib

    model = f"tf{batch}"
    add_model(redis.url, model, "transformer", TRANSFORMER, batch)
    env = {"FORESCALE_REDIS_URL": redis.url}
    worker = spawn([sys.executable, "-m", "forescale.worker", "--model", model, "--port", "0"], env)
    r = redis_lib.Redis.from_url(redis.url)
    direct, queued = [], []
    try:
        wait_worker(redis.url, model)
        for _ in range(rounds):
            direct.append(direct_rps(engine, batch, 1.5))
            queued.append(fill_and_time(r, model, n, worker.pid))
    finally:
        r.close()
        stop(worker)
    return {
        "direct": max(d[0] for d in direct), "direct_cpu": max(d[1] for d in direct),
        "queue": max(q[0] for q in queued), "queue_cpu": max(q[1] for q in queued),
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--requests", type=int, default=800, help="requests per batching run")
    ap.add_argument("--d-model", type=int, default=128, help="transformer width")
    ap.add_argument("--layers", type=int, default=4, help="transformer layers")
    ap.add_argument("--seq-len", type=int, default=64, help="tokens per request")
    ap.add_argument("--skip-overhead", action="store_true", help="only the batching part")
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--celery-url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve_http(args.serve, args.celery_url)
        return 0
    global SEQ_LEN
    SEQ_LEN = args.seq_len
    TRANSFORMER.update(d_model=args.d_model, layers=args.layers, ff=4 * args.d_model, max_len=args.seq_len)
    with RedisServer() as redis:
        empty = {"rps": float("nan"), "p50_ms": float("nan"), "p99_ms": float("nan"), "errors": 0}
        ov = {k: empty for k in ("forescale", "aiohttp_echo", "celery")}
        if not args.skip_overhead:
            ov = overhead(redis, args.concurrency, args.seconds)
        for name, res in ov.items():
            figures = f"p50 {res['p50_ms']:6.1f} ms  p99 {res['p99_ms']:6.1f} ms  errors {res['errors']}"
            print(f"{name:>13}: {res['rps']:7.0f} req/s  {figures}  (concurrency {args.concurrency})")
        engine = load_engine()
        big = batching(redis, engine, args.batch, args.requests, rounds=3)
        one = batching(redis, engine, 1, args.requests // 4, rounds=2)
    print(f"transformer {TRANSFORMER}, {SEQ_LEN} tokens, best of alternating runs:")
    for b, m in ((args.batch, big), (1, one)):
        queue = f"through the queue {m['queue']:.0f}/s ({m['queue_cpu']:.0f} per CPU-s of the worker)"
        print(f"  batch {b:>2}: direct {m['direct']:.0f}/s ({m['direct_cpu']:.0f} per CPU-s), {queue}")
    result = {
        "forescale_rps": round(ov["forescale"]["rps"], 1),
        "aiohttp_echo_rps": round(ov["aiohttp_echo"]["rps"], 1),
        "peer_rps": round(ov["celery"]["rps"], 1),
        "peer_name": "celery (aiohttp front, redis broker + result backend)",
        "p50_ms": round(ov["forescale"]["p50_ms"], 2),
        "p99_ms": round(ov["forescale"]["p99_ms"], 2),
        "peer_p50_ms": round(ov["celery"]["p50_ms"], 2),
        "peer_p99_ms": round(ov["celery"]["p99_ms"], 2),
        "aiohttp_echo_p50_ms": round(ov["aiohttp_echo"]["p50_ms"], 2),
        "concurrency": args.concurrency,
        "transformer_batch": args.batch,
        "direct_rps": round(big["direct"], 1),
        "queue_rps": round(big["queue"], 1),
        "queue_batch1_rps": round(one["queue"], 1),
        # Per CPU-second (the machine is shared: wall-clock rates swing with others' load).
        "batching_efficiency": round(big["queue_cpu"] / big["direct_cpu"], 3),
        "batching_speedup": round(big["queue_cpu"] / one["queue_cpu"], 2),
        "batching_efficiency_wall": round(big["queue"] / big["direct"], 3),
        "batching_speedup_wall": round(big["queue"] / one["queue"], 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
