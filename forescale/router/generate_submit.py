"""Admission of a generation request and its sampling parameters, shared by the OpenAI
routes and the KServe generate extension. Same admission script (429 + Retry-After),
auth, body limit and deadlines as the v2 infer route; nothing is enqueued for a request
that fails validation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import uuid
from typing import Any

import orjson
from aiohttp import web

from forescale import keys
from forescale.queue.config import ModelConfig
from forescale.queue.stream import GenRequest, StreamQueue
from forescale.router import handlers
from forescale.router.generate_stream import GenReplies, GenStream
from forescale.router.problems import Problem
from forescale.router.state import Router

GEN = web.AppKey("gen_replies", GenReplies)
STREAMS = web.AppKey("gen_streams", StreamQueue)
MAX_STOP = 4


class ParamError(Problem):
    """A 400 naming the offending field (the OpenAI error object's ``param``)."""

    def __init__(
        self, detail: str, param: str | None = None, status: int = 400, code: str | None = None
    ) -> None:
        super().__init__(status, detail)
        self.param = param
        self.code = code


def parse_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; orjson rejects NaN and Infinity (non-finite is bad input)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ParamError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ParamError("the body must be a JSON object")
    return doc


def _num(d: dict[str, Any], name: str, default: float, lo: float, hi: float) -> float:
    v = d.get(name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise ParamError(f"{name} must be a number in [{lo:g}, {hi:g}], not {v!r}", name)
    return float(v)


def _int(d: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    v = d.get(name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ParamError(f"{name} must be an integer in [{lo}, {hi}], not {v!r}", name)
    return v


def context_of(cfg: ModelConfig) -> int:
    return int(cfg.engine_options.get("max_context", 512))


def sampling(
    cfg: ModelConfig, d: dict[str, Any], prompt: str, max_tokens_key: str = "max_tokens"
) -> GenRequest:
    """Validated sampling parameters; ParamError names the first bad field."""
    ctx = context_of(cfg)
    default_max = int(cfg.engine_options.get("max_tokens_default", 64))
    max_tokens = _int(d, max_tokens_key, default_max, 1, ctx - 1)
    stop = d.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and (
        not isinstance(stop, list) or len(stop) > MAX_STOP or not all(isinstance(s, str) and s for s in stop)
    ):
        raise ParamError(f"stop must be a string or a list of at most {MAX_STOP} non-empty strings", "stop")
    if cfg.engine_options.get("tokenizer") is None:  # byte-level: the count is exact here
        n = len(prompt.encode("utf-8")) + 1
        if n >= ctx:
            msg = f"the prompt has {n} tokens; this model's context holds {ctx} (prompt + 1 output)"
            raise ParamError(msg, "prompt", code="context_length_exceeded")
    seed = d.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or abs(seed) >= 2**63):
        raise ParamError(f"seed must be an integer, not {seed!r}", "seed")
    return GenRequest(
        prompt=prompt,
        max_tokens=max_tokens,
        temperature=_num(d, "temperature", 1.0 if seed is not None else 0.0, 0, 2),
        top_p=_num(d, "top_p", 1.0, 1e-9, 1),
        top_k=_int(d, "top_k", 0, 0, 1 << 20),
        seed=0 if seed is None else seed,
        stop=tuple(stop or ()),
        ignore_eos=bool(d.get("ignore_eos", False)),
    )


def _ttft_timeout(cfg: ModelConfig, request: web.Request, total: float) -> float:
    raw = request.headers.get("X-TTFT-Timeout")
    if raw is None:
        return min(total, float(cfg.engine_options.get("ttft_timeout_s", total)))
    try:
        t = float(raw)
    except ValueError:
        t = -1.0
    if not 0 < t <= 3600:
        raise Problem(400, f"X-TTFT-Timeout must be seconds in (0, 3600], not {raw!r}")
    return min(t, total)


async def model_for(rt: Router, name: Any) -> ModelConfig:
    if not isinstance(name, str) or not name:
        raise ParamError("model must be a non-empty string", "model")
    try:
        cfg = await rt.model(name)
    except handlers.REDIS_DOWN:
        raise handlers._unavailable(rt, "redis is unavailable") from None
    if cfg is None or cfg.engine != "llm":
        raise ParamError(f"the model {name!r} does not exist or does not generate text", "model", 404,
                         "model_not_found")  # fmt: skip
    return cfg


async def read_body(rt: Router, request: web.Request) -> bytes:
    """Shutdown and the body limit, as on the v2 infer route (auth ran before routing)."""
    if not rt.accepting:
        raise handlers._unavailable(rt, "the router is shutting down")
    return await handlers._read_body(rt, request)


async def submit(app: web.Application, request: web.Request, cfg: ModelConfig, req: GenRequest) -> GenStream:
    """Admit the request; its stream. 429 when the queue is full, 503 without Redis."""
    rt = app[handlers.ROUTER]
    total = handlers._timeout(cfg, request)
    ttft = _ttft_timeout(cfg, request, total)
    rt.count_arrival(cfg.name)
    req_id = uuid.uuid4().hex
    now = rt.clock.now()
    payload = dataclasses.replace(req, created=now)
    loop_now = asyncio.get_running_loop().time()
    replies = app[GEN]
    stream = GenStream(replies, app[STREAMS], cfg.name, req_id, loop_now + ttft, loop_now + total)
    try:
        entry = await rt.queue.admit(cfg.name, cfg.queue_limit, req_id, replies.stream,
                                     int((now + total) * 1000), payload.dumps())  # fmt: skip
    except handlers.REDIS_DOWN:
        replies.forget(req_id)
        rt.metrics.rejected.labels(cfg.name, "unavailable").inc()
        raise handlers._unavailable(rt, "redis is unavailable") from None
    if entry is None:
        replies.forget(req_id)
        rt.metrics.rejected.labels(cfg.name, "queue_full").inc()
        raise Problem(429, f"queue of {cfg.name!r} is full ({cfg.queue_limit})",
                      {"Retry-After": str(rt.settings.retry_after_s)})  # fmt: skip
    rt.metrics.child(rt.metrics.admitted, cfg.name).inc()
    return stream


def count(rt: Router, model: str, status: int) -> None:
    """One generation request in ``forescale_router_requests_total`` (the SLO's error ratio
    and the demand rate count generation like inference). A stream that an error ended
    after it started counts with that error's status, not the 200 its headers carried.
    No model label ("") before the model is known (a bad body, a refusal during shutdown)."""
    rt.metrics.child(rt.metrics.requests, model, str(status)).inc()


def gen_replies_for(rt: Router) -> GenReplies:
    return GenReplies(rt.redis, keys.gen_reply_stream(rt.settings.router_id), rt.settings.reply_ttl_s)
