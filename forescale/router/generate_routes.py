"""The KServe Open Inference Protocol generate extension, and the registration of every
generation route (this module's and ``openai_api``'s) with its reply listener.

``POST /v2/models/{m}/generate``: ``{"text_input": str, "parameters": {max_tokens,
temperature, top_p, top_k, seed, stop, ignore_eos}}`` -> ``{"model_name",
"model_version", "text_output", "finish_reason", "usage"}``. ``/generate_stream``: the
same as Server-Sent Events, one ``text_output`` delta per event. Errors are problem+json
as on the infer route; an error after the stream started is one ``data: {"error": ...}``
event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from forescale.queue.client import stop_tasks
from forescale.queue.stream import StreamQueue
from forescale.router import generate_submit as gs
from forescale.router import handlers, openai_api, problems
from forescale.router.generate_stream import GenError, GenStream
from forescale.router.problems import Problem


def register(app: web.Application) -> None:
    """Add the generation routes and the generation reply listener to the router app."""
    app.router.add_post("/v1/completions", openai_api.completions)
    app.router.add_post("/v1/chat/completions", openai_api.chat_completions)
    app.router.add_get("/v1/models", openai_api.list_models)
    app.router.add_post("/v2/models/{model}/generate", generate)
    app.router.add_post("/v2/models/{model}/generate_stream", generate_stream)
    app.cleanup_ctx.append(_listener)


async def _listener(app: web.Application) -> AsyncIterator[None]:
    rt = app[handlers.ROUTER]
    app[gs.GEN] = replies = gs.gen_replies_for(rt)
    app[gs.STREAMS] = StreamQueue(rt.redis, rt.settings.reply_ttl_s)
    task = asyncio.create_task(replies.listen(rt.blocking, rt.settings.reply_block_ms))
    yield
    await stop_tasks([task], 5.0, "generation listener")


async def _start(request: web.Request) -> tuple[dict[str, Any], GenStream]:
    rt = request.app[handlers.ROUTER]
    model = ""
    try:
        body = await gs.read_body(rt, request)
        cfg = await gs.model_for(rt, request.match_info["model"])
        model = cfg.name
        doc = gs.parse_json(body)
        text = doc.get("text_input")
        if not isinstance(text, str) or not text:
            raise gs.ParamError("text_input must be a non-empty string", "text_input")
        params = doc.get("parameters", {})
        if not isinstance(params, dict):
            raise gs.ParamError("parameters must be an object", "parameters")
        req = gs.sampling(cfg, params, text)
        s = await gs.submit(request.app, request, cfg, req)
    except Problem as p:
        gs.count(rt, model, p.status)
        raise
    head: dict[str, Any] = {"model_name": cfg.name, "model_version": "1"}
    if isinstance(doc.get("id"), str):
        head["id"] = doc["id"]
    return head, s


Serve = Callable[[web.Request, dict[str, Any], GenStream], Awaitable[web.StreamResponse]]


async def _counted(request: web.Request, serve: Serve) -> web.StreamResponse:
    try:
        head, s = await _start(request)
    except Problem as p:
        return problems.from_problem(p)
    try:
        resp = await serve(request, head, s)
    finally:
        await s.close()
    gs.count(request.app[handlers.ROUTER], s.model, s.error_status or resp.status)
    return resp


async def generate(request: web.Request) -> web.StreamResponse:
    return await _counted(request, _whole)


async def generate_stream(request: web.Request) -> web.StreamResponse:
    return await _counted(request, _stream)


async def _whole(request: web.Request, head: dict[str, Any], s: GenStream) -> web.StreamResponse:
    text = []
    while True:
        try:
            d = await s.next()
        except GenError as e:
            return problems.response(e.status, e.message)
        text.append(d.text)
        if d.finish_reason is not None:
            break
    return web.json_response({**head, "text_output": "".join(text), "finish_reason": d.finish_reason,
                              "usage": openai_api._usage(d.usage)})  # fmt: skip


async def _stream(request: web.Request, head: dict[str, Any], s: GenStream) -> web.StreamResponse:
    try:
        d = await s.next()
    except GenError as e:
        return problems.response(e.status, e.message)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    while True:
        event = {**head, "text_output": d.text, "finish_reason": d.finish_reason}
        try:
            await resp.write(b"data: " + orjson.dumps(event) + b"\n\n")
        except ConnectionResetError:
            return resp
        if d.finish_reason is not None:
            break
        try:
            d = await s.next()
        except GenError as e:
            await resp.write(b"data: " + orjson.dumps({"error": e.message, "status": e.status}) + b"\n\n")
            break
    await resp.write_eof()
    return resp
