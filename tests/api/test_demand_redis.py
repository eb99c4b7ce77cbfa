"""What-if demand from Redis alone: the prescaler's kept history (a day at its step)
overlaid by the routers' per-second counters (the last hour), against a real Redis."""

from __future__ import annotations

import numpy as np
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from forescale import keys
from forescale.controller.api.app import create_app
from forescale.controller.api.demand import RedisDemand
from forescale.controller.api.deps import ApiDeps
from forescale.controller.store import Store
from forescale.core.clock import ManualClock
from forescale.prescaler.history import history_key, kept_history, redis_history
from tests.api.conftest import NOW, W, policy, pool, settings

pytestmark = pytest.mark.timeout(120)
DAY = 86_400
STEP = 60.0
RECENT = 1800  # seconds of counters before NOW
BASE = 10.0  # req/s the prescaler kept for every step


async def keep(aredis: aioredis.Redis, model: str, start: float, steps: int, rate: float = BASE) -> None:
    """What the prescaler's ``redis_history`` leaves behind: step start -> rate."""
    mapping = {f"{start + i * STEP:.0f}": repr(rate) for i in range(steps)}
    await aredis.hset(history_key(model, STEP), mapping=mapping)  # type: ignore[misc,arg-type]


async def count(aredis: aioredis.Redis, model: str, first: int, per_second: int) -> None:
    await aredis.mset({keys.arrivals(model, first + i): per_second for i in range(RECENT)})


async def test_a_day_of_what_if_replays_the_prescaler_history(aredis: aioredis.Redis) -> None:
    first_step = (NOW - DAY) // STEP * STEP  # the prescaler's steps are on the step grid
    await keep(aredis, "chat", first_step, int((NOW - first_step) // STEP))
    await count(aredis, "chat", int(NOW) - RECENT, 25)
    app = create_app(settings(whatif_hours=24), ApiDeps(store=Store(aredis), clock=ManualClock(NOW)))
    async with TestClient(TestServer(app)) as client:
        assert (await client.put("/v1/pools/od-a", json=pool(lead_time_s=240), headers=W)).status == 201
        r = await client.put("/v1/policies/chat?dry_run=true", json=policy(), headers=W)
        assert r.status == 200, await r.text()
        answer = (await r.json())["what_if"]
    assert (answer["start"], answer["duration_s"]) == (NOW - DAY, DAY)
    assert answer["requests"] == round(BASE * (DAY - RECENT) + 25 * RECENT)
    assert answer["proposed"]["peak_replicas"] >= 3  # 25 req/s at 10 per replica


async def test_counters_overlay_the_kept_steps_and_gaps_stay_unknown(aredis: aioredis.Redis) -> None:
    start = NOW // STEP * STEP - 4 * 3600
    await keep(aredis, "chat", start, 60)  # 4 h ago for an hour...
    await keep(aredis, "chat", start + 2 * 3600, 120, rate=3.0)  # ...then a gap, then 2 h at 3 req/s
    await count(aredis, "chat", int(NOW) - RECENT, 7)
    before = await aredis.hgetall(history_key("chat", STEP))  # type: ignore[misc]
    demand = await RedisDemand(aredis).recorded("chat", NOW, 6 * 3600)
    assert demand is not None and (demand.start, demand.step_s) == (start, 1.0)  # trimmed to the record
    v = demand.values
    assert len(v) == NOW - start
    assert np.all(v[:3600] == BASE) and np.all(np.isnan(v[3600:7200]))
    assert np.all(v[7200:-RECENT] == 3.0) and np.all(v[-RECENT:] == 7)  # the counters win
    assert await aredis.hgetall(history_key("chat", STEP)) == before  # read-only


async def test_counters_alone_and_nothing_at_all(aredis: aioredis.Redis) -> None:
    assert await RedisDemand(aredis).recorded("chat", NOW, DAY) is None
    assert await kept_history(aredis, "chat", NOW - DAY, NOW, STEP) is None
    await count(aredis, "chat", int(NOW) - RECENT, 2)
    demand = await RedisDemand(aredis).recorded("chat", NOW, DAY)
    assert demand is not None and (demand.start, len(demand.values)) == (NOW - RECENT, RECENT)
    assert float(demand.values.sum()) == 2 * RECENT


async def test_reads_back_what_the_prescaler_keeps(aredis: aioredis.Redis) -> None:
    await count(aredis, "chat", int(NOW) - RECENT, 4)
    written = await redis_history(aredis, "chat", NOW, 3600, STEP)  # the prescaler's own writer
    kept = await kept_history(aredis, "chat", written.start, NOW, STEP)
    assert kept is not None and kept.start == written.start
    assert np.array_equal(kept.values[: len(written.values)], written.values, equal_nan=True)
    assert np.nansum(kept.values) > 0
