"""The admin API on a real port, served from a thread with its own event loop (for
clients that are synchronous: schemathesis and the CLI)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis.asyncio as aioredis

from forescale.controller.api.app import bound_port, serve_api
from forescale.controller.api.deps import ApiDeps
from forescale.controller.api.settings import ApiSettings
from forescale.controller.store import Store


@contextmanager
def live_api(redis_url: str, settings: ApiSettings) -> Iterator[str]:
    """Yield the base URL of a running API; stop it on exit."""
    ready = threading.Event()
    box: dict[str, object] = {}
    loop = asyncio.new_event_loop()

    async def main() -> None:
        stop = asyncio.Event()
        box["stop"] = stop
        client = aioredis.Redis.from_url(redis_url)
        try:
            async with serve_api(settings.model_copy(update={"port": 0}), ApiDeps(store=Store(client))) as r:
                box["url"] = f"http://127.0.0.1:{bound_port(r)}"
                ready.set()
                await stop.wait()
        finally:
            await client.aclose()
            ready.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(30)
    try:
        if "url" not in box:
            raise RuntimeError("the API did not start")
        yield str(box["url"])
    finally:
        stop = box.get("stop")
        if isinstance(stop, asyncio.Event):
            loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
