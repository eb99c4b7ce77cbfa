"""How ``forescale controller`` hosts the admin API: one call in ``service.serve``.

    await stack.enter_async_context(
        controller_api(settings, api_settings, store, clock, source, parts.replicas, port=api_port)
    )

The API shares the controller's Store (so its Redis connection pool), clock, signal
source and replica setter; with ``--signals prometheus`` dry runs replay the day of
demand Prometheus holds instead of the hour the Redis counters keep.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from aiohttp import web

from forescale.controller.api.app import serve_api
from forescale.controller.api.demand import DemandSource, PrometheusDemand, RedisDemand
from forescale.controller.api.deps import ApiDeps
from forescale.controller.api.settings import ApiSettings
from forescale.controller.settings import ControllerSettings
from forescale.controller.store import Store
from forescale.core.clock import Clock
from forescale.core.ports import MetricsSource, ReplicaSetter


def controller_api(
    settings: ControllerSettings,
    api: ApiSettings,
    store: Store,
    clock: Clock,
    source: MetricsSource | None = None,
    replicas: ReplicaSetter | None = None,
    *,
    port: int | None = None,
) -> AbstractAsyncContextManager[web.AppRunner]:
    """Serve the API (``api``, read by the entry point; ``port`` overrides its port) while
    the context is open. Raises ``auth.TokenError`` for malformed tokens."""
    if port is not None:
        api = api.model_copy(update={"port": port})
    demand: DemandSource
    if settings.signals == "prometheus":
        demand = PrometheusDemand(settings.prometheus_url, settings.prometheus_timeout_s)
    else:  # the prescaler's step as the entry point read it, not looked up per request
        demand = RedisDemand(store.redis, settings.history_step_s)
    deps = ApiDeps(store=store, clock=clock, source=source, replicas=replicas, demand=demand)
    return serve_api(api, deps)
