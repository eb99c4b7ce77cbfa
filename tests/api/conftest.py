"""The admin API against a real Redis: an aiohttp test client with read and write tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from forescale.controller.api.app import create_app
from forescale.controller.api.deps import ApiDeps
from forescale.controller.api.settings import ApiSettings
from forescale.controller.store import Store
from forescale.core.clock import ManualClock

READ = "r3ad-t0ken"
WRITE = "wr1te-t0ken"
NOW = 1_700_000_000.0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


W = bearer(WRITE)
R = bearer(READ)


def policy(model: str = "chat", **over: Any) -> dict[str, Any]:
    return {"model": model, "target_rps_per_replica": 10.0, "max_replicas": 20, **over}


def pool(name: str = "od-a", **over: Any) -> dict[str, Any]:
    body = {"name": name, "capacity_type": "on-demand", "price_per_node_hour": 4.0, "max_nodes": 20}
    return {**body, **over}


@dataclass
class Api:
    client: TestClient
    redis: aioredis.Redis
    clock: ManualClock
    store: Store


def settings(**over: Any) -> ApiSettings:
    return ApiSettings(tokens=f"read:{READ},write:{WRITE}", max_body_bytes=4096, **over)


@pytest.fixture
async def api(aredis: aioredis.Redis) -> AsyncIterator[Api]:
    clock = ManualClock(NOW)
    store = Store(aredis)
    app = create_app(settings(whatif_hours=1), ApiDeps(store=store, clock=clock))
    async with TestClient(TestServer(app)) as client:
        yield Api(client, aredis, clock, store)
