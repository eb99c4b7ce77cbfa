"""What-if demand from a real Prometheus holding three hours of backfilled router counters."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from forescale.controller.api.app import create_app
from forescale.controller.api.demand import PrometheusDemand
from forescale.controller.api.deps import ApiDeps
from forescale.controller.store import Store
from forescale.core.clock import ManualClock
from forescale.devstack.prometheus_server import PrometheusServer, backfill
from tests.api.conftest import W, policy, pool, settings

pytestmark = pytest.mark.timeout(120)
HOURS = 3
SCRAPE_S = 15
RATE = 40.0  # req/s, steady, so every one-minute rate is known exactly


@pytest.fixture(scope="module")
def end() -> float:
    # Backfilled blocks must lie inside retention and clear of the head block: end 3 h ago.
    return math.floor(time.time() / 3600) * 3600 - 3 * 3600


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, end: float) -> Iterator[PrometheusServer]:
    work: Path = tmp_path_factory.mktemp("prom")
    t = np.arange(end - HOURS * 3600, end + 1, SCRAPE_S)
    lines = ["# HELP forescale_router_requests Requests.", "# TYPE forescale_router_requests counter"]
    lines += [f'forescale_router_requests_total{{model="chat",code="200"}} {RATE * (ts - t[0]):.1f} {ts}'
              for ts in t]  # fmt: skip
    with PrometheusServer(
        storage_dir=backfill("\n".join(lines) + "\n# EOF\n", work), retention="30d"
    ) as server:
        yield server


async def test_demand_from_prometheus_is_trimmed_to_what_was_recorded(
    prometheus: PrometheusServer, end: float
) -> None:
    demand = PrometheusDemand(prometheus.url)
    series = await demand.recorded("chat", end, 6 * 3600)  # asks for 6 h, 3 h exist
    assert series is not None and series.step_s == 60
    assert series.end == end
    assert HOURS * 60 - 2 <= len(series.values) <= HOURS * 60
    assert np.allclose(series.values, RATE, rtol=1e-6)
    assert await demand.recorded("nobody", end, 3600) is None


async def test_dry_run_replays_prometheus_demand(
    prometheus: PrometheusServer, end: float, aredis: aioredis.Redis
) -> None:
    deps = ApiDeps(store=Store(aredis), clock=ManualClock(end), demand=PrometheusDemand(prometheus.url))
    async with TestClient(TestServer(create_app(settings(whatif_hours=2), deps))) as client:
        assert (await client.put("/v1/pools/od-a", json=pool(), headers=W)).status == 201
        r = await client.put("/v1/policies/chat?dry_run=true", json=policy(), headers=W)
        answer = (await r.json())["what_if"]
    assert (answer["duration_s"], answer["requests"]) == (7200, round(RATE * 7200))
    assert answer["current"] is None
    assert answer["proposed"]["peak_replicas"] >= math.ceil(RATE / 10)
