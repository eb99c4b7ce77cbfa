"""OpenAI-compatible routes: ``POST /v1/completions``, ``POST /v1/chat/completions``
(``stream: true``: Server-Sent Events ending ``data: [DONE]``) and ``GET /v1/models``.

Errors are OpenAI error objects ``{"error": {"message", "type", "param", "code"}}`` with
the HTTP status the official client maps to its exception types (400 BadRequestError,
401 AuthenticationError, 404 NotFoundError, 429 RateLimitError, 5xx InternalServerError).
An error after the stream started is one ``data: {"error": ...}`` event (the client
raises APIError), then the stream ends.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from aiohttp import web

from forescale.queue import registry
from forescale.router import generate_submit as gs
from forescale.router import handlers
from forescale.router.generate_stream import GenError, GenStream
from forescale.router.problems import Problem

ROLES = ("system", "user", "assistant", "developer", "tool")
TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
         404: "not_found_error", 413: "invalid_request_error", 429: "rate_limit_error"}  # fmt: skip


def error(status: int, message: str, param: str | None = None, code: str | None = None,
          headers: dict[str, str] | None = None) -> web.Response:  # fmt: skip
    body = {
        "error": {"message": message, "type": TYPES.get(status, "server_error"), "param": param, "code": code}
    }
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


def from_problem(p: Problem) -> web.Response:
    return error(p.status, p.detail, getattr(p, "param", None), getattr(p, "code", None), p.headers)


def chat_prompt(messages: Any) -> str:
    """The chat template (also what the worker tokenizes): one ``<|role|>`` block per message."""
    if not isinstance(messages, list) or not messages:
        raise gs.ParamError("messages must be a non-empty list", "messages")
    parts = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise gs.ParamError(
                f"messages[{i}].role must be one of {', '.join(ROLES)}", f"messages[{i}].role"
            )
        content = m.get("content")
        if isinstance(content, list):  # [{"type": "text", "text": ...}]
            content = "".join(
                c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text"
            )
        if not isinstance(content, str):
            raise gs.ParamError(f"messages[{i}].content must be a string", f"messages[{i}].content")
        parts.append(f"<|{m['role']}|>\n{content}\n")
    return "".join(parts) + "<|assistant|>\n"


def _prompt(doc: dict[str, Any]) -> str:
    p = doc.get("prompt")
    if isinstance(p, list) and len(p) == 1 and isinstance(p[0], str):
        p = p[0]
    if not isinstance(p, str) or not p:
        raise gs.ParamError("prompt must be a non-empty string (or a list of one)", "prompt")
    return p


async def list_models(request: web.Request) -> web.Response:
    rt = request.app[handlers.ROUTER]
    try:
        models = await registry.all_models(rt.redis)
    except Problem as p:
        return from_problem(p)
    except handlers.REDIS_DOWN:
        return error(503, "redis is unavailable", headers={"Retry-After": str(rt.settings.retry_after_s)})
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "forescale"}
            for n, c in sorted(models.items()) if c.engine == "llm"]  # fmt: skip
    return web.json_response({"object": "list", "data": data})


async def completions(request: web.Request) -> web.StreamResponse:
    return await _serve(request, chat=False)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _serve(request, chat=True)


async def _serve(request: web.Request, chat: bool) -> web.StreamResponse:
    rt = request.app[handlers.ROUTER]
    cfg = None
    try:
        doc = gs.parse_json(await gs.read_body(rt, request))
        cfg = await gs.model_for(rt, doc.get("model"))
        prompt = chat_prompt(doc.get("messages")) if chat else _prompt(doc)
        key = "max_completion_tokens" if chat and "max_completion_tokens" in doc else "max_tokens"
        req = gs.sampling(cfg, doc, prompt, key)
        if doc.get("n", 1) != 1:
            raise gs.ParamError("only n = 1 is supported", "n")
        stream = doc.get("stream", False)
        if not isinstance(stream, bool):
            raise gs.ParamError("stream must be a boolean", "stream")
        s = await gs.submit(request.app, request, cfg, req)
    except Problem as p:
        gs.count(rt, cfg.name if cfg is not None else "", p.status)
        return from_problem(p)
    opts = doc.get("stream_options")
    usage_wanted = isinstance(opts, dict) and bool(opts.get("include_usage"))
    base = {"id": ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex, "created": int(time.time()),
            "model": cfg.name}  # fmt: skip
    try:
        resp = await (_sse(request, s, base, chat, usage_wanted) if stream else _whole(s, base, chat))
    finally:
        await s.close()
    gs.count(rt, cfg.name, s.error_status or resp.status)
    return resp


async def _whole(s: GenStream, base: dict[str, Any], chat: bool) -> web.Response:
    text: list[str] = []
    while True:
        try:
            d = await s.next()
        except GenError as e:
            return error(e.status, e.message)
        text.append(d.text)
        if d.finish_reason is not None:
            break
    usage = _usage(d.usage)
    if chat:
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": "".join(text)},
                                  "finish_reason": d.finish_reason}  # fmt: skip
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": "".join(text), "logprobs": None, "finish_reason": d.finish_reason}
        obj = "text_completion"
    return web.json_response({**base, "object": obj, "choices": [choice], "usage": usage})


def _usage(u: dict[str, int] | None) -> dict[str, int]:
    p, c = (u or {}).get("prompt_tokens", 0), (u or {}).get("completion_tokens", 0)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


async def _sse(request: web.Request, s: GenStream, base: dict[str, Any], chat: bool,
               usage_wanted: bool) -> web.StreamResponse:  # fmt: skip
    obj = "chat.completion.chunk" if chat else "text_completion"
    try:
        first = await s.next()  # errors before the first token keep their HTTP status
    except GenError as e:
        return error(e.status, e.message)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    d, role_sent = first, False
    while True:
        if chat:
            delta: dict[str, Any] = {"content": d.text}
            if not role_sent:
                delta["role"], role_sent = "assistant", True
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": d.finish_reason}
        else:
            choice = {"index": 0, "text": d.text, "logprobs": None, "finish_reason": d.finish_reason}
        try:
            await resp.write(b"data: " + orjson.dumps({**base, "object": obj, "choices": [choice]}) + b"\n\n")
        except ConnectionResetError:  # the client is gone: the caller's close() cancels the sequence
            return resp
        if d.finish_reason is not None:
            if usage_wanted:
                doc = {**base, "object": obj, "choices": [], "usage": _usage(d.usage)}
                await resp.write(b"data: " + orjson.dumps(doc) + b"\n\n")
            break
        try:
            d = await s.next()
        except GenError as e:
            err = {
                "error": {"message": e.message, "type": TYPES.get(e.status, "server_error"), "code": e.status}
            }
            await resp.write(b"data: " + orjson.dumps(err) + b"\n\n")
            break
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp
