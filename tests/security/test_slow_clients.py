"""Item 13 of the hardening review: slow clients are timed out and connections bounded.

The router is served through ``GuardedSite`` (as ``forescale router`` serves it; the admin
API and the prescaler use the same site) with short limits. Pass criteria: a client that
never finishes its headers is disconnected, one connection over the limit is refused at
once while the others are served, and a body that does not arrive in time is a 408."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis
from aiohttp import web

from forescale import keys
from forescale.devstack.ports import free_port
from forescale.queue.config import ModelConfig
from forescale.router.app import create_app
from forescale.router.settings import RouterSettings
from forescale.web.limits import LIMITS, GuardedSite, Limits

LIMITS_UNDER_TEST = Limits(max_connections=3, header_timeout_s=0.3, body_timeout_s=0.3)
GET = b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.fixture(params=[LIMITS_UNDER_TEST])
async def port(redis_url: str, request: pytest.FixtureRequest) -> AsyncIterator[int]:
    limits: Limits = request.param
    p = free_port()
    app = create_app(RouterSettings(redis_url=redis_url, port=p))
    app[LIMITS] = limits
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await GuardedSite(runner, "127.0.0.1", p, limits).start()
    yield p
    await asyncio.wait_for(runner.cleanup(), 60)  # shutting down never hangs on held connections


async def _closed(reader: asyncio.StreamReader) -> bool:
    """True when the server closes the connection (within a generous 10 s)."""
    try:
        data = await asyncio.wait_for(reader.read(), 10)
    except (ConnectionResetError, BrokenPipeError):
        return True
    return data == b"" or data.startswith(b"HTTP/1.1 4")


async def test_a_client_that_never_finishes_its_headers_is_disconnected(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\nX-Slow: ")
    await writer.drain()
    try:
        for _ in range(3):  # one byte now and then: progress at the TCP level, never a request
            await asyncio.sleep(0.2)
            writer.write(b"a")
            await writer.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # already disconnected
    assert await _closed(reader)
    writer.close()


# A long header timeout here: the held connections must not be closed as idle meanwhile.
@pytest.mark.parametrize("port", [Limits(max_connections=3, header_timeout_s=60)], indirect=True)
async def test_connections_over_the_limit_are_refused_and_others_served(port: int) -> None:
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(GET)
    assert await _closed(reader)
    writer.close()
    r0, w0 = held[0]
    w0.write(GET)
    assert (await asyncio.wait_for(r0.readline(), 10)).startswith(b"HTTP/1.1 200")
    for _, w in held:
        w.close()


async def test_a_slow_body_is_a_408(port: int, redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    r.hset(keys.MODELS, "m", ModelConfig(name="m", engine="echo").model_dump_json())
    r.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = b"POST /v2/models/m/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"
    writer.write(head + b'{"inputs"')
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert line.startswith(b"HTTP/1.1 408"), line
