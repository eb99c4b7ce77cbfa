"""``forescale prescaler``: the external-forecast webhook API and the publishing loop.

``POST /v1/forecasts`` (Standard Webhooks signed), ``GET /v1/forecasts[?model=M]``,
``DELETE /v1/forecasts/{id}``, ``GET /metrics`` (Prometheus). Errors are
``application/problem+json`` (RFC 9457, the shared ``forescale/web/problem.py``) and a
rejected request changes nothing. The training/publishing loop runs in a cleanup context.

Who may do what: ``POST`` is authenticated by its Standard Webhooks signature; every
other route needs a bearer token (``FORESCALE_PRESCALER_TOKENS``, the admin API's
format): ``read`` for GET, ``write`` for DELETE. Without tokens those routes are
refused, so reaching the port is never enough to read or delete announced events;
``/metrics`` alone stays open until tokens are configured (then it needs ``read``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from forescale.core.clock import Clock, SystemClock
from forescale.health import add_health_routes
from forescale.prescaler import webhook
from forescale.prescaler.external import ExternalForecast
from forescale.prescaler.metrics import PrescalerMetrics
from forescale.prescaler.publisher import Publisher
from forescale.prescaler.settings import PrescalerSettings
from forescale.queue.client import connect
from forescale.web import tokens
from forescale.web.limits import Limits
from forescale.web.problem import Handler, Problem, problem_middleware, response

SETTINGS = web.AppKey("settings", PrescalerSettings)
CLOCK = web.AppKey("clock", Clock)  # type: ignore[type-abstract]
REDIS = web.AppKey("redis", aioredis.Redis)
PUBLISHER = web.AppKey("publisher", Publisher)
METRICS = web.AppKey("metrics", PrescalerMetrics)


TOKENS = web.AppKey("tokens", list[tokens.Token])
REDIS_TIMEOUT_S = 5.0  # a Redis that stops answering fails a request or a cycle, not hangs it


def problem(status: int, title: str, detail: str, **extra: object) -> web.Response:
    """A problem response (``title`` is the status phrase; kept for the call sites)."""
    errors = extra.get("errors")
    return response(status, detail, errors=errors if isinstance(errors, list) else None)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    signed = request.method == "POST" and request.path == "/v1/forecasts"  # its signature is its auth
    open_metrics = request.path == "/metrics" and not request.app[TOKENS]  # scrapers, until tokens exist
    probe = request.path in ("/healthz", "/readyz")  # kubelet probes carry no token, tell nothing
    if not (signed or open_metrics or probe):
        need = tokens.required_scope(request.method)
        tokens.authenticate(request.app[TOKENS], request.headers.get("Authorization", ""), need)
    return await handler(request)


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it is over ``limit`` bytes (declared or actually sent)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    timeout = Limits().body_timeout_s
    try:
        async with asyncio.timeout(timeout):  # a client dribbling its body is a 408
            async for chunk in request.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > limit:
                    return None
    except TimeoutError:
        raise Problem(408, f"the request body did not arrive within {timeout:g} s") from None
    return bytes(body)


async def post_forecast(request: web.Request) -> web.Response:
    """Counts every answer by status code, raised ones (aiohttp's own 4xx, a 500) too."""
    counter = request.app[METRICS].webhook
    try:
        response = await _post_forecast(request)
    except web.HTTPException as exc:
        counter.labels(str(exc.status)).inc()
        raise
    except Exception:
        counter.labels("500").inc()
        raise
    counter.labels(str(response.status)).inc()
    return response


async def _post_forecast(request: web.Request) -> web.Response:
    settings, clock, client = request.app[SETTINGS], request.app[CLOCK], request.app[REDIS]
    body = await _read_limited(request, settings.max_body_bytes)
    if body is None:
        return problem(413, "Payload Too Large", f"body over {settings.max_body_bytes} bytes")
    now = clock.now()
    try:
        msg_id = webhook.verify(
            settings.webhook_secret, request.headers, body, now, settings.webhook_tolerance_s
        )
    except webhook.SignatureError as exc:
        return problem(401, "Unauthorized", str(exc))
    try:
        ext = ExternalForecast.model_validate_json(body)
    except ValidationError as exc:
        errors = [{"loc": ".".join(map(str, e["loc"])), "msg": e["msg"]} for e in exc.errors()]
        detail = f"{errors[0]['loc']}: {errors[0]['msg']}"
        return problem(422, "Unprocessable Content", detail, errors=errors)
    limit_error = _over_limits(ext, settings)
    if limit_error:
        return problem(422, "Unprocessable Content", limit_error)
    # Replay is checked last so that a rejected request does not burn its id.
    if not await webhook.claim(client, msg_id, settings.webhook_tolerance_s):
        return problem(401, "Unauthorized", f"webhook-id {msg_id!r} was already used (replay)")
    ext = ext.model_copy(update={"received_at": now})
    await webhook.store(client, ext)
    return web.json_response(ext.model_dump(mode="json"), status=201)


def _over_limits(ext: ExternalForecast, settings: PrescalerSettings) -> str | None:
    for k, w in enumerate(ext.windows):
        if w.rps is not None and w.rps > settings.max_external_rps:
            return f"windows.{k}.rps: over the limit of {settings.max_external_rps:g} req/s"
        if w.multiplier is not None and w.multiplier > settings.max_multiplier:
            return f"windows.{k}.multiplier: over the limit of {settings.max_multiplier:g}"
    return None


async def list_forecasts(request: web.Request) -> web.Response:
    model = request.query.get("model")
    items = await webhook.load_all(request.app[REDIS])
    return web.json_response([e.model_dump(mode="json") for e in items if model in (None, e.model)])


async def delete_forecast(request: web.Request) -> web.Response:
    forecast_id = request.match_info["id"]
    if not await webhook.delete(request.app[REDIS], forecast_id):
        return problem(404, "Not Found", f"no external forecast {forecast_id!r}")
    return web.Response(status=204)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    if REDIS not in app:
        app[REDIS] = connect(app[SETTINGS].redis_url, timeout_s=REDIS_TIMEOUT_S)  # one Redis or a Cluster
        yield
        await app[REDIS].aclose()
    else:
        yield


async def _publisher_ctx(app: web.Application) -> AsyncIterator[None]:
    app[PUBLISHER] = Publisher(app[SETTINGS], app[REDIS], app[CLOCK], app[METRICS])
    task = asyncio.create_task(app[PUBLISHER].run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(
    settings: PrescalerSettings,
    *,
    clock: Clock | None = None,
    redis: aioredis.Redis | None = None,
    run_loop: bool = True,
) -> web.Application:
    """The service. ``redis`` is the caller's client (not closed here); ``run_loop=False``
    serves the API without the training loop (tests drive ``Publisher.cycle`` directly)."""
    # Leave room above the limit so that _read_limited answers 413 as problem+json.
    app = web.Application(
        client_max_size=settings.max_body_bytes + 1024, middlewares=[problem_middleware, auth_middleware]
    )
    app[TOKENS] = tokens.load_tokens(settings.tokens, settings.tokens_file, "FORESCALE_PRESCALER_TOKENS")
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app[METRICS] = PrescalerMetrics()
    if redis is not None:
        app[REDIS] = redis
    app.cleanup_ctx.append(_redis_ctx)
    if run_loop:
        app.cleanup_ctx.append(_publisher_ctx)
    app.router.add_post("/v1/forecasts", post_forecast)
    app.router.add_get("/v1/forecasts", list_forecasts)
    app.router.add_delete("/v1/forecasts/{id}", delete_forecast)
    app.router.add_get("/metrics", metrics)
    add_health_routes(app, _redis_ready)
    return app


async def _redis_ready(app: web.Application) -> bool:
    return bool(await app[REDIS].ping())
