"""The what-if says how much history it replayed, refuses one shorter than the longest lead
time or window, warns on one barely longer, and reads the prescaler's history at the step
the prescaler is configured with (real Redis, the real app)."""

from __future__ import annotations

import aiohttp
import pytest
import redis.asyncio as aioredis

from forescale import keys
from forescale.controller.api import render
from forescale.controller.api.app import bound_port
from forescale.controller.api.demand import RedisDemand
from forescale.controller.api.hosting import controller_api
from forescale.controller.settings import ControllerSettings
from forescale.controller.store import Store
from forescale.core.clock import ManualClock
from forescale.prescaler.history import history_key
from tests.api.conftest import NOW, Api, W, policy, pool, settings

pytestmark = pytest.mark.timeout(120)


async def dry_run(api: Api, seconds: int, lead_time_s: float = 240) -> dict[str, object]:
    first = int(NOW) - seconds
    await api.redis.mset({keys.arrivals("chat", first + i): 30 for i in range(seconds)})
    reply = await api.client.put("/v1/pools/od-a", json=pool(lead_time_s=lead_time_s), headers=W)
    assert reply.status == 201
    r = await api.client.put("/v1/policies/chat?dry_run=true", json=policy(), headers=W)
    assert r.status == 200, await r.text()
    body: dict[str, object] = await r.json()
    return body


async def test_history_shorter_than_a_lead_time_is_refused_with_the_reason(api: Api) -> None:
    body = await dry_run(api, 22, lead_time_s=300)
    assert body["what_if"] is None
    note = str(body["what_if_note"])
    assert "only 22 s of recorded demand" in note and "lead time of pool od-a (5.0 min)" in note
    assert render.what_if(None, note).startswith("  what-if: not available: refused: only 22 s")


async def test_short_history_is_replayed_with_a_loud_warning(api: Api) -> None:
    body = await dry_run(api, 600, lead_time_s=240)
    answer = body["what_if"]
    assert isinstance(answer, dict)
    assert (answer["duration_s"], answer["history_step_s"], answer["needed_s"]) == (600, 1.0, 300.0)
    assert answer["needed_for"] == "the scale-down stabilisation window"  # 300 s > 240 s lead time
    assert "only 10.0 min of recorded demand" in answer["warning"]
    text = render.what_if(answer, None)
    assert "replayed 10.0 min of recorded demand (18,000 requests, step 1 s)" in text
    assert text.count("WARNING: only 10.0 min") == 2  # above and below the figures


async def test_enough_history_has_no_warning(api: Api) -> None:
    answer = (await dry_run(api, 1800))["what_if"]
    assert isinstance(answer, dict) and answer["warning"] is None
    assert "WARNING" not in render.what_if(answer, None)


async def test_demand_reads_the_prescalers_configured_step(
    aredis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prescaler run with FORESCALE_PRESCALER_STEP_S=300 keeps 5-minute steps; the
    controller, in the same environment, reads that step once at its entry point and its
    what-if replays them (the default 60 s step would find none)."""
    step = 300
    first = int(NOW) // step * step - 12 * step
    mapping = {str(first + i * step): "7.0" for i in range(12)}
    await aredis.hset(history_key("chat", float(step)), mapping=mapping)  # type: ignore[misc,arg-type]
    assert await RedisDemand(aredis, 60.0).recorded("chat", NOW, 7200) is None
    monkeypatch.setenv("FORESCALE_PRESCALER_STEP_S", str(step))
    demand = await RedisDemand(aredis, ControllerSettings().history_step_s).recorded("chat", NOW, 7200)
    assert demand is not None and demand.start == first and len(demand.values) == int(NOW) - first
    assert float(demand.values[: 12 * step].mean()) == 7.0  # the rest: not yet kept


async def test_the_hosted_api_replays_at_the_step_its_entry_point_read(aredis: aioredis.Redis) -> None:
    """``controller_api`` (what ``forescale controller`` serves) replays the prescaler's
    history at ``ControllerSettings.history_step_s``, read once, not looked up per request."""
    step = 300
    first = int(NOW) // step * step - 12 * step
    await aredis.hset(
        history_key("chat", float(step)), mapping={str(first + i * step): "7.0" for i in range(12)}
    )  # type: ignore[misc,arg-type]
    api = settings(whatif_hours=1.0)
    hosted = controller_api(
        ControllerSettings(history_step_s=step), api, Store(aredis), ManualClock(NOW), port=0
    )
    async with hosted as runner, aiohttp.ClientSession(f"http://127.0.0.1:{bound_port(runner)}") as http:
        assert (await http.put("/v1/pools/od-a", json=pool(lead_time_s=240), headers=W)).status == 201
        r = await http.put("/v1/policies/chat?dry_run=true", json=policy(), headers=W)
        answer = (await r.json())["what_if"]
    kept_in_window = int(NOW) // step * step - (int(NOW) - 3600)  # the last hour, up to the last kept step
    assert answer is not None and answer["requests"] == 7 * kept_in_window  # (at 60 s: none found)
