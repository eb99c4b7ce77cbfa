"""The worker process as an aiohttp app: ``/metrics`` and ``/healthz`` in front, the
consumer loop and its upkeep in a cleanup context (STYLE.md #10).

Shutdown (SIGTERM, the spot interruption notice): stop reading, finish and ack the
in-flight batch, leave the heartbeat entry, all within ``drain_grace_s``; whatever is
left unacked is reclaimed by other workers after the model's ``min_idle_ms``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from forescale import keys
from forescale.core.clock import Clock, SystemClock
from forescale.queue import heartbeat, registry
from forescale.queue.client import connect, connect_blocking, stop_tasks
from forescale.queue.protocol import Queue
from forescale.worker import engines, upkeep
from forescale.worker.loop import REDIS_DOWN, Worker
from forescale.worker.metrics import WorkerMetrics
from forescale.worker.settings import WorkerSettings

log = logging.getLogger(__name__)
WORKER = web.AppKey("worker", Worker)
METRICS = web.AppKey("metrics", WorkerMetrics)
TASK = web.AppKey("task", asyncio.Task)


class ModelMissing(RuntimeError):
    """The worker's model is not registered in fs:models."""


class EngineLoadFailed(RuntimeError):
    """The engine raised while loading or warming up; the message says why."""


def create_app(settings: WorkerSettings, clock: Clock | None = None) -> web.Application:
    app = web.Application()
    app[METRICS] = WorkerMetrics(settings.model)
    app.cleanup_ctx.append(_lifecycle(settings, clock or SystemClock()))
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _healthz)  # ready = the model is loaded and serving
    return app


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(request: web.Request) -> web.Response:
    w = request.app.get(WORKER)
    state = w.state if w else "starting"
    return web.json_response({"state": state}, status=200 if state == "ready" else 503)


async def start_worker(settings: WorkerSettings, clock: Clock, metrics: WorkerMetrics) -> Worker:
    fast = connect(settings.redis_url, settings.redis_timeout_s)
    blocking = connect_blocking(settings.redis_url, settings.block_ms / 1000, settings.redis_timeout_s)
    try:
        cfg = await registry.get(fast, settings.model)
        if cfg is None:
            raise ModelMissing(f"no model named {settings.model!r} in {keys.MODELS}")
        engine = engines.create(cfg.engine, cfg.engine_options, settings.model_dir)
        queue = Queue(fast, blocking)
        await queue.ensure_group(cfg.name)
    except BaseException:
        await fast.aclose()
        await blocking.aclose()
        raise
    if cfg.engine == "llm":  # token streams, not batch replies (imported here: echo never loads torch)
        from forescale.worker.generate import GenerateWorker

        return GenerateWorker(settings, cfg, engine, queue, clock, metrics)
    return Worker(settings, cfg, engine, queue, clock, metrics)


async def serve(w: Worker) -> None:
    """Warm up (reported as ``warming``), then consume until ``w.stopping``."""
    beat = asyncio.create_task(upkeep.heartbeat_loop(w))
    tasks = [beat]
    try:
        try:
            await asyncio.to_thread(w.engine.load)
            await asyncio.to_thread(w.engine.warm_up)
        except Exception as exc:  # say why, then end: a worker that cannot load must not linger
            log.error("model %s: the engine cannot load: %s", w.cfg.name, exc)
            raise EngineLoadFailed(f"model {w.cfg.name!r}: the engine cannot load: {exc}") from exc
        w.state = "ready"
        w.metrics.ready.set(1)
        tasks += [asyncio.create_task(upkeep.lease_loop(w)), asyncio.create_task(upkeep.reaper_loop(w))]
        await upkeep.heartbeat_once(w)
        await w.consume()
    finally:
        w.state = "draining"
        w.metrics.ready.set(0)
        await stop_tasks(tasks, 5.0, "worker shutdown")
        with contextlib.suppress(*REDIS_DOWN):
            await heartbeat.remove(w.queue.fast, w.cfg.name, w.consumer)
        with contextlib.suppress(*REDIS_DOWN):
            await w.tokens.flush(w.queue.fast)  # the last seconds' tokens
        await w.queue.fast.aclose()
        await w.queue.blocking.aclose()


async def drain(w: Worker, task: asyncio.Task[None], grace_s: float) -> None:
    w.stopping.set()
    if task.done():  # ended on its own (e.g. the engine failed to load): the caller reports it
        return
    try:
        await asyncio.wait_for(asyncio.shield(task), grace_s)
    except TimeoutError:
        log.warning("drain took longer than %.1f s: leaving the rest to be reclaimed", grace_s)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _lifecycle(
    settings: WorkerSettings, clock: Clock
) -> Callable[[web.Application], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        w = await start_worker(settings, clock, app[METRICS])
        app[WORKER] = w
        task = app[TASK] = asyncio.create_task(serve(w))
        yield
        await drain(w, task, settings.drain_grace_s)

    return ctx
