"""GET /metrics of the prescaler: the loop's and the webhook's metrics, promtool-clean."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from forescale.core.clock import ManualClock
from forescale.devstack.redis_server import require
from forescale.prescaler.history import history_key
from forescale.prescaler.metrics import outcome
from forescale.prescaler.service import create_app
from forescale.prescaler.settings import PrescalerSettings
from forescale.prescaler.webhook import sign

NOW = 1_700_006_400.0  # a whole minute
STEP = 60.0
HISTORY_S = 2 * 86_400.0
SECRET = "whsec_" + base64.b64encode(b"metrics-test-secret").decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def parked(clock: ManualClock) -> None:
    for _ in range(2000):
        if clock.sleepers:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the publishing loop never slept")


async def seed_history(aredis: aioredis.Redis, model: str) -> None:
    """Two days at 5 req/s in the prescaler's own history hash (as earlier cycles keep it)."""
    first = NOW - HISTORY_S
    steps = {f"{first + i * STEP:.0f}": "5.0" for i in range(int(HISTORY_S // STEP))}
    await aredis.hset(history_key(model, STEP), mapping=steps)  # type: ignore[misc,arg-type]


async def test_metrics_count_publishing_training_and_webhook_answers(aredis: aioredis.Redis) -> None:
    await seed_history(aredis, "m1")
    clock = ManualClock(NOW)
    settings = PrescalerSettings(
        webhook_secret=SECRET, models=("m1", "m2"), forecaster="seasonal-naive", step_s=STEP,
        history_s=HISTORY_S, lead_time_s=240, publish_every_s=60, redis_url="redis://unused",
    )  # fmt: skip
    async with TestClient(TestServer(create_app(settings, clock=clock, redis=aredis))) as client:
        await parked(clock)
        window = {"start": NOW, "end": NOW + 600, "rps": 7}
        body = json.dumps({"id": "p", "model": "m1", "source": "ops", "windows": [window]}).encode()
        good = {"webhook-id": "a", "webhook-timestamp": str(int(NOW))}
        good["webhook-signature"] = sign(SECRET, "a", NOW, body)
        assert (await client.post("/v1/forecasts", data=body, headers=good)).status == 201
        assert (await client.post("/v1/forecasts", data=body, headers=good)).status == 401  # replay
        assert (await client.post("/v1/forecasts", data=b"{}", headers={})).status == 401
        resp = await client.get("/metrics")
        assert resp.status == 200 and resp.content_type == "text/plain"
        text = await resp.text()
    got = samples(text)
    assert got[("forescale_prescaler_publish_total", (("model", "m1"), ("outcome", "learned")))] == 1
    # m2 has no history at all: the forecaster cannot say (nothing known), published empty.
    assert got[("forescale_prescaler_publish_total", (("model", "m2"), ("outcome", "no_forecast")))] == 1
    assert got[("forescale_prescaler_last_publish_timestamp_seconds", (("model", "m1"),))] == NOW
    assert got[("forescale_prescaler_training_seconds_count", (("model", "m1"),))] == 1
    assert got[("forescale_prescaler_history_known_ratio", (("model", "m1"),))] == 1.0
    assert got[("forescale_prescaler_webhook_requests_total", (("code", "201"),))] == 1
    assert got[("forescale_prescaler_webhook_requests_total", (("code", "401"),))] == 2
    assert got[("forescale_prescaler_cycle_errors_total", ())] == 0
    promtool = require("promtool", "prometheus")
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_outcome_names() -> None:
    assert outcome(True, True) == "learned"
    assert outcome(True, False) == "no_forecast"
    assert outcome(False, False) == "no_history"
