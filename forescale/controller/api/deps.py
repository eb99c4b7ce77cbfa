"""What the API needs from its host (the controller process), and the app's typed keys."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from forescale.controller.api.demand import DemandSource
from forescale.controller.api.settings import ApiSettings
from forescale.controller.store import Store
from forescale.core.clock import Clock, SystemClock
from forescale.core.ports import MetricsSource, ReplicaSetter


@dataclass(frozen=True)
class ApiDeps:
    """``store`` is required; the rest default to reading Redis directly.

    - ``source``: live signals for /v1/status (default: the direct Redis counters);
    - ``replicas``: current/ready replica counts for /v1/status (default: the worker
      heartbeats in ``fs:workers:{model}``); never used to write;
    - ``demand``: recorded demand for dry runs (default: the prescaler's stored history
      plus the ``fs:arr`` counters).
    """

    store: Store
    clock: Clock = field(default_factory=SystemClock)
    source: MetricsSource | None = None
    replicas: ReplicaSetter | None = None
    demand: DemandSource | None = None


SETTINGS = web.AppKey("settings", ApiSettings)
DEPS = web.AppKey("deps", ApiDeps)
WHATIF_LOCK = web.AppKey("whatif_lock", asyncio.Lock)  # one replay at a time: it is CPU-bound
