"""Slow and numerous clients: bounded header time and connection count for every service.

aiohttp has no deadline for receiving a request's headers: 200 connections sending one
header byte a second stayed open for ever on each service. ``GuardedSite`` (a ``TCPSite``)
wraps each connection's protocol:

- at most ``max_connections`` at once; one more is closed as soon as it is accepted;
- every ``header_timeout_s`` the connection must show progress: a request whose headers
  were completed since the last check, or one being handled (its body read, its answer
  computed); else it is closed. A client dribbling header bytes, or an idle keep-alive
  connection, is closed within two periods. Progress is read from aiohttp's protocol
  (``_request_count``, ``_request_in_progress``, ``_messages``: private names, checked
  with defaults so that a renamed field closes nothing by mistake).

Bodies are bounded by ``read_body`` (``body_timeout_s``, 408), which the handlers that
read a body call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from forescale.web.problem import Problem


@dataclass(frozen=True)
class Limits:
    max_connections: int = 1024
    header_timeout_s: float = 15.0
    body_timeout_s: float = 30.0


LIMITS = web.AppKey("limits", Limits)
# An app's graceful drain: run_app awaits it after SIGTERM while the site still listens
# (requests that arrive meanwhile get the app's own refusal, not a refused connection).
DRAIN: web.AppKey[Callable[[web.Application], Awaitable[None]]] = web.AppKey("drain")


class _Conn(asyncio.Protocol):
    """Delegates to aiohttp's protocol; adds the progress deadline and the count."""

    def __init__(self, inner: Any, guard: _Guard) -> None:
        self.inner = inner
        self.guard = guard
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.seen = 0
        self.refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.guard.live >= self.guard.limits.max_connections:
            self.refused = True
            transport.abort()
            return
        self.guard.live += 1
        self.inner.connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.guard.limits.header_timeout_s, self._check)

    def _check(self) -> None:
        count = getattr(self.inner, "_request_count", None)
        busy = getattr(self.inner, "_request_in_progress", True) or bool(getattr(self.inner, "_messages", ()))
        if count is None or busy or count > self.seen:
            self.seen = count or 0
            self._arm()
        elif self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()  # type: ignore[no-any-return]

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.refused:
            return
        if self.timer is not None:
            self.timer.cancel()
        self.guard.live -= 1
        self.inner.connection_lost(exc)


class _Guard:
    def __init__(self, factory: Any, limits: Limits) -> None:
        self.factory = factory
        self.limits = limits
        self.live = 0

    def __call__(self) -> _Conn:
        return _Conn(self.factory(), self)


class GuardedSite(web.TCPSite):
    """``web.TCPSite`` with ``Limits`` on its connections."""

    def __init__(self, runner: web.AppRunner, host: str | None, port: int | None, limits: Limits) -> None:
        super().__init__(runner, host, port)
        self.limits = limits

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        guard = _Guard(server, self.limits)
        self._server = await asyncio.get_running_loop().create_server(
            guard, self._host, self._port, backlog=self._backlog
        )


async def read_body(request: web.Request, limits: Limits | None = None) -> bytes:
    """The whole body within ``body_timeout_s``; 408 problem when the client is too slow."""
    timeout = (limits or request.app.get(LIMITS) or Limits()).body_timeout_s
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except TimeoutError:
        raise Problem(408, f"the request body did not arrive within {timeout:g} s") from None


def run_app(app: web.Application, host: str, port: int, limits: Limits | None = None,
            shutdown_timeout: float = 60.0) -> None:  # fmt: skip
    """``web.run_app`` with a ``GuardedSite``: serve until SIGTERM or SIGINT, then clean up
    (the app's on_shutdown drains in-flight requests within ``shutdown_timeout``)."""
    import signal

    async def main() -> None:
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=shutdown_timeout)
        await runner.setup()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await GuardedSite(runner, host, port, limits or Limits()).start()
            await stop.wait()
            if (drain := app.get(DRAIN)) is not None:
                await drain(app)
        finally:
            await runner.cleanup()

    asyncio.run(main())
