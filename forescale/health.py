"""``/healthz`` and ``/readyz`` for every HTTP service: no auth, no data.

Kubernetes probes (and load balancers) call them without credentials, so they say only
"alive" and "ready or not": nothing about models, tenants or configuration. ``/healthz``
answers while the process serves HTTP; ``/readyz`` asks the service's own check (for
the control plane: Redis answers) and is 503 until it passes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

PATHS = frozenset({"/healthz", "/readyz"})
ReadyCheck = Callable[[web.Application], Awaitable[bool]]


def add_health_routes(app: web.Application, ready: ReadyCheck | None = None) -> None:
    """Add both routes to ``app``; ``ready`` decides /readyz (always ready without one)."""

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        try:
            ok = ready is None or await ready(request.app)
        except Exception:  # any failure of the check is "not ready", never a 500 with details
            ok = False
        return web.Response(text="ready\n" if ok else "not ready\n", status=200 if ok else 503)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
