"""Graceful shutdown of a router: refuse new work, let open work finish, end the rest.

On SIGTERM (``web/limits.py`` ``run_app`` calls ``drain`` while the server still
listens, before it closes anything) the router:

1. refuses new requests at once: 503 with Retry-After (problem+json on v2 and the
   KServe generate routes, an OpenAI error object on the OpenAI routes); readiness
   answers 503 so that the Service stops sending here;
2. waits up to ``shutdown_grace_s`` for in-flight v2 replies and open generations
   (streaming or not) to finish on their own;
3. ends what is still open: a generation gets a 503 (an OpenAI error object, or for a
   stream that already sent tokens a final ``data: {"error": ...}`` event then
   ``data: [DONE]``), and its sequence is cancelled on its worker through the same
   flag a client disconnect sets, so no KV cache stays held for a reader that is gone;
   a v2 request gets a 503 (its entry may still run; its late reply is ignored).

A client thus sees either its whole answer or an error, never a connection that hangs
or drops. ``on_shutdown`` calls ``drain`` too (a runner cleaned up without run_app:
tests, an embedding), after the listener closed; a second call waits for the first.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from forescale.router import generate_submit as gs
from forescale.router.handlers import ROUTER

log = logging.getLogger(__name__)
ENDED = "the router shut down before this request finished; retry it"


async def drain(app: web.Application) -> None:
    rt = app[ROUTER]
    rt.accepting = False
    if rt.draining is None:
        rt.draining = asyncio.ensure_future(_drain(app))
    await asyncio.shield(rt.draining)


def _open(app: web.Application) -> int:
    gen = app.get(gs.GEN)
    return app[ROUTER].replies.pending + (len(gen.waiting) if gen is not None else 0)


async def _wait(app: web.Application, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while _open(app) and loop.time() < end:
        await asyncio.sleep(0.05)


async def _drain(app: web.Application) -> None:
    rt = app[ROUTER]
    log.info("draining: %d requests open, grace %g s", _open(app), rt.settings.shutdown_grace_s)
    await _wait(app, rt.settings.shutdown_grace_s)
    gen = app.get(gs.GEN)
    ended_gen = gen.end_all(ENDED) if gen is not None else 0
    ended_v2 = rt.replies.end_all({"status": 503, "error": ENDED})
    if ended_gen or ended_v2:
        log.warning("grace of %g s over: ended %d generations and %d requests still open",
                    rt.settings.shutdown_grace_s, ended_gen, ended_v2)  # fmt: skip
        # Their handlers now write the end and flag the cancels (one Redis call each):
        # give them that long before the server closes connections.
        await _wait(app, rt.settings.redis_timeout_s + 1)
