"""``create_app(settings, deps)``: the admin API as an aiohttp application, and
``serve_api(settings, deps)``: an async context that serves it on a port.

Middlewares, outermost first: every error becomes ``application/problem+json`` (the shared
``forescale/web/problem.py``: aiohttp's own 404/405/413 included; a Redis outage is a 503;
anything else a logged 500), then
bodies larger than ``max_body_bytes`` are refused from their Content-Length before they
are read (aiohttp's ``client_max_size`` catches chunked ones), then bearer-token auth.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from forescale.controller.api import models
from forescale.controller.api.auth import TOKEN_KEY, Handler, auth_middleware, load_tokens
from forescale.controller.api.deps import DEPS, SETTINGS, WHATIF_LOCK, ApiDeps
from forescale.controller.api.openapi import document
from forescale.controller.api.policies import POLICY, POOL
from forescale.controller.api.problem import problem
from forescale.controller.api.settings import ApiSettings
from forescale.controller.api.status import audit_log, decisions, status
from forescale.health import add_health_routes
from forescale.web.limits import GuardedSite, Limits
from forescale.web.problem import problem_middleware

log = logging.getLogger(__name__)


@web.middleware
async def size_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    limit = request.app[SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return problem(413, f"request body over {limit} bytes")
    return await handler(request)


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document())


def create_app(settings: ApiSettings, deps: ApiDeps) -> web.Application:
    """The admin API; ``TokenError`` when the configured tokens are malformed."""
    tokens = load_tokens(settings.tokens, settings.tokens_file)
    if not tokens:
        log.warning("admin API: no tokens configured (FORESCALE_API_TOKENS): every request is refused")
    app = web.Application(
        middlewares=[problem_middleware, size_middleware, auth_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[DEPS] = deps
    app[TOKEN_KEY] = tokens
    app[WHATIF_LOCK] = asyncio.Lock()
    app.add_routes([*POLICY.routes(), *POOL.routes(), *models.ROUTES])
    app.add_routes([
        web.get("/v1/status", status), web.get("/v1/decisions", decisions),
        web.get("/v1/audit", audit_log), web.get("/openapi.json", openapi_json),
    ])  # fmt: skip
    add_health_routes(app, _redis_ready)
    return app


async def _redis_ready(app: web.Application) -> bool:
    return bool(await app[DEPS].store.redis.ping())


@asynccontextmanager
async def serve_api(settings: ApiSettings, deps: ApiDeps) -> AsyncIterator[web.AppRunner]:
    """Serve the API on ``settings.host:port`` while the context is open.

    ``runner.addresses`` gives the bound address (useful with port 0)."""
    runner = web.AppRunner(create_app(settings, deps), access_log=None)
    await runner.setup()
    try:
        await GuardedSite(runner, settings.host, settings.port, Limits()).start()  # slow clients bounded
        log.info("admin API on http://%s:%s", settings.host, bound_port(runner))
        yield runner
    finally:
        await runner.cleanup()


def bound_port(runner: web.AppRunner) -> int:
    return int(runner.addresses[0][1])
