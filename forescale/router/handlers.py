"""Open Inference Protocol v2 REST handlers."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from forescale.queue.config import ModelConfig
from forescale.queue.protocol import is_oom
from forescale.queue.registry import InvalidModel
from forescale.router import binary, problems
from forescale.router.problems import Problem
from forescale.router.state import Router
from forescale.router.validate import InferRequest, parse_infer
from forescale.web.limits import read_body

ROUTER = web.AppKey("router", Router)
log = logging.getLogger(__name__)
REDIS_DOWN = (RedisError, OSError, TimeoutError)


async def server_metadata(request: web.Request) -> web.Response:
    return web.json_response({"name": "forescale", "version": "0.1.0", "extensions": []})


async def live(request: web.Request) -> web.Response:
    return web.json_response({"live": True})


async def ready(request: web.Request) -> web.Response:
    rt = request.app[ROUTER]
    ok = rt.accepting and await rt.ping()
    return web.json_response({"ready": ok}, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[ROUTER].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _model_or_problem(rt: Router, name: str) -> ModelConfig:
    try:
        cfg = await rt.model(name)
    except REDIS_DOWN:
        raise _unavailable(rt, "redis is unavailable") from None
    except InvalidModel as exc:  # a stored entry that does not validate: say so, never a 500
        raise Problem(409, f"{exc}; an operator must register it again") from None
    if cfg is None:
        raise Problem(404, f"unknown model {name!r}")
    return cfg


def _unavailable(rt: Router, detail: str) -> Problem:
    rt.redis_ok = False
    return Problem(503, detail, {"Retry-After": str(rt.settings.retry_after_s)})


async def model_metadata(request: web.Request) -> web.Response:
    rt = request.app[ROUTER]
    try:
        cfg = await _model_or_problem(rt, request.match_info["model"])
    except Problem as p:
        return problems.from_problem(p)
    opts = cfg.engine_options
    return web.json_response({
        "name": cfg.name, "versions": ["1"], "platform": f"forescale_{cfg.engine}",
        "inputs": opts.get("inputs", []), "outputs": opts.get("outputs", []),
    })  # fmt: skip


async def model_ready(request: web.Request) -> web.Response:
    rt = request.app[ROUTER]
    try:
        cfg = await _model_or_problem(rt, request.match_info["model"])
        ok = await rt.workers_ready(cfg.name)
    except Problem as p:
        return problems.from_problem(p)
    except REDIS_DOWN:
        return problems.from_problem(_unavailable(rt, "redis is unavailable"))
    return web.json_response({"name": cfg.name, "ready": ok}, status=200 if ok else 503)


async def infer(request: web.Request) -> web.Response:
    rt = request.app[ROUTER]
    name = request.match_info["model"]
    loop = asyncio.get_running_loop()
    start = loop.time()
    label = name
    try:
        cfg = await _model_or_problem(rt, name)
        resp = await _infer(rt, request, cfg)
    except Problem as p:
        if p.status == 404:
            label = ""  # unknown names would blow up the label set
        resp = problems.from_problem(p)
    m = rt.metrics
    m.child(m.requests, label, str(resp.status)).inc()
    if label:
        m.child(m.duration, label).observe(loop.time() - start)
    return resp


async def _read_body(rt: Router, request: web.Request) -> bytes:
    limit = rt.settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise Problem(413, f"body of {request.content_length} bytes exceeds the limit of {limit}")
    body: bytes | None
    try:
        body = await read_body(request)  # bounded time: a slow body is a 408
    except web.HTTPRequestEntityTooLarge:
        body = None
    if body is None or len(body) > limit:  # chunked bodies carry no Content-Length
        raise Problem(413, f"body exceeds the limit of {limit} bytes")
    return body


def _timeout(cfg: ModelConfig, request: web.Request) -> float:
    raw = request.headers.get("X-Request-Timeout")
    if raw is None:
        return cfg.default_timeout_s
    try:
        t = float(raw)
    except ValueError:
        t = -1.0
    if not 0 < t <= 3600:
        raise Problem(400, f"X-Request-Timeout must be seconds in (0, 3600], not {raw!r}")
    return t


async def _infer(rt: Router, request: web.Request, cfg: ModelConfig) -> web.Response:
    if not rt.accepting:
        raise _unavailable(rt, "the router is shutting down")
    body = await _read_body(rt, request)
    raw_len = request.headers.get(binary.HEADER)
    head = None if raw_len is None else binary.header_length(raw_len, len(body))
    # A tensor may decode to at most 4x the body limit (FP64 written as "0," in JSON is 4x).
    req = parse_infer(body, head, 4 * rt.settings.max_body_bytes)
    timeout = _timeout(cfg, request)
    rt.count_arrival(cfg.name)
    reply = await _submit(rt, cfg, req, timeout)
    if reply.get("status") != 200:
        raise Problem(int(reply.get("status", 500)), str(reply.get("error", "inference failed")))
    out, head_len = binary.encode_response(_result(cfg, req, reply), req.binary_all, req.binary_names)
    if head_len is None:
        return web.Response(body=out, content_type="application/json")
    return web.Response(
        body=out, content_type="application/octet-stream", headers={binary.HEADER: str(head_len)}
    )


async def _submit(rt: Router, cfg: ModelConfig, req: InferRequest, timeout: float) -> dict[str, Any]:
    req_id = uuid.uuid4().hex
    deadline_ms = int((rt.clock.now() + timeout) * 1000)
    fut = rt.replies.expect(req_id)  # before XADD: a fast reply must find it
    try:
        try:
            entry = await rt.queue.admit(
                cfg.name, cfg.queue_limit, req_id, rt.reply_stream, deadline_ms, req.payload()
            )
        except REDIS_DOWN as exc:
            if is_oom(exc):  # admission stops; replies of admitted work still flow (allow-oom)
                rt.metrics.rejected.labels(cfg.name, "redis_oom").inc()
                log.warning(
                    "redis is out of memory (maxmemory reached): refusing new requests for %s", cfg.name
                )
                retry = {"Retry-After": str(rt.settings.retry_after_s)}
                raise Problem(
                    503, "redis is out of memory: new requests are refused for now", retry
                ) from None
            rt.metrics.rejected.labels(cfg.name, "unavailable").inc()
            raise _unavailable(rt, "redis is unavailable") from None
        if entry is None:
            rt.metrics.rejected.labels(cfg.name, "queue_full").inc()
            retry = {"Retry-After": str(rt.settings.retry_after_s)}
            raise Problem(429, f"queue of {cfg.name!r} is full ({cfg.queue_limit})", retry)
        rt.metrics.child(rt.metrics.admitted, cfg.name).inc()
        # A timer on the future itself: asyncio.wait_for adds a waiter future and callbacks
        # per request, measurable on the router's hot path.
        timer = asyncio.get_running_loop().call_later(timeout, _expire, fut)
        try:
            return await fut
        except TimeoutError:
            raise Problem(504, f"no reply within the deadline of {timeout:g} s") from None
        finally:
            timer.cancel()
    finally:
        rt.replies.forget(req_id)


def _expire(fut: asyncio.Future[dict[str, Any]]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


def _result(cfg: ModelConfig, req: InferRequest, reply: dict[str, Any]) -> dict[str, Any]:
    outputs = reply.get("outputs", [])
    if req.output_names is not None:
        wanted = set(req.output_names)
        outputs = [o for o in outputs if o.get("name") in wanted]
    doc: dict[str, Any] = {"model_name": cfg.name, "model_version": "1", "outputs": outputs}
    if req.id is not None:
        doc["id"] = req.id
    return doc
