"""The router's aiohttp app factory: KServe Open Inference Protocol v2 over REST."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from forescale.core.clock import Clock, SystemClock
from forescale.queue.client import connect, connect_blocking, stop_tasks
from forescale.router import auth, drain, generate_routes, handlers, problems
from forescale.router.handlers import ROUTER
from forescale.router.settings import RouterSettings
from forescale.router.state import Router
from forescale.web.limits import DRAIN

log = logging.getLogger(__name__)


def create_app(settings: RouterSettings, clock: Clock | None = None) -> web.Application:
    rt = Router(
        settings,
        clock or SystemClock(),
        connect(settings.redis_url, settings.redis_timeout_s),
        connect_blocking(settings.redis_url, settings.reply_block_ms / 1000, settings.redis_timeout_s),
    )
    # +1 MiB so that our own check (with a problem+json answer) sees oversized bodies first.
    # Every error is problem+json (the shared middleware); auth runs before routing.
    token = settings.auth_token.get_secret_value() if settings.auth_token else None
    mws: list[Middleware] = [problems.problem_middleware]
    guard = auth.middleware(token)
    if guard is not None:
        mws.append(guard)
    app = web.Application(client_max_size=settings.max_body_bytes + 1024 * 1024, middlewares=mws)
    app[ROUTER] = rt
    app.cleanup_ctx.append(_background(rt))
    app[DRAIN] = drain.drain  # run_app drains while still listening (new requests: 503)
    app.on_shutdown.append(drain.drain)
    app.router.add_get("/v2", handlers.server_metadata)
    app.router.add_get("/v2/health/live", handlers.live)
    app.router.add_get("/v2/health/ready", handlers.ready)
    app.router.add_get("/v2/models/{model:[^/]+}", handlers.model_metadata)
    app.router.add_get("/v2/models/{model:[^/]+}/ready", handlers.model_ready)
    app.router.add_post("/v2/models/{model:[^/]+}/infer", handlers.infer)
    app.router.add_get("/metrics", handlers.metrics)
    app.router.add_get("/healthz", handlers.live)  # probe aliases (no auth, no data)
    app.router.add_get("/readyz", handlers.ready)
    generate_routes.register(app)  # /v1/completions, /v1/chat/completions, /v1/models, /v2/.../generate*
    return app


def _background(rt: Router) -> Callable[[web.Application], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await rt.ping()
        tasks = [
            asyncio.create_task(rt.replies.listen(rt.blocking, rt.reply_stream, rt.settings.reply_block_ms)),
            asyncio.create_task(rt.heartbeat_loop()),
        ]
        yield
        await stop_tasks(tasks, 5.0, "router shutdown")
        try:  # bounded: a Redis that stopped answering must not hold the exit
            async with asyncio.timeout(2 * rt.settings.redis_timeout_s + 1):
                await rt.heartbeat()  # last flush of arrival counters
                await rt.redis.aclose()
                await rt.blocking.aclose()
        except TimeoutError:
            log.warning("router shutdown: Redis did not answer the last flush; closing anyway")

    return ctx
